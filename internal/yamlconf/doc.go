// Package yamlconf is the YAML configuration kit shared by the go402
// commands (`go402 facilitator` and `go402 gateway`): it owns how a
// configuration file is decoded, how ${VAR} references and GO402_*
// environment overrides are applied, and how problems are reported. Each
// command's package declares its own schema and validation on top of it.
//
// # Decoding
//
// [Decode] reads one YAML document whose top level is a mapping, walking it
// with the schema the caller gives as [Fields]: every key must be known
// (an unknown key is an error with a did-you-mean suggestion, or the list
// of known keys), appear once, and hold the kind of value its handler
// asks for ([Value.String], [Value.Bool], [Value.Int], [Value.Uint],
// [Value.Duration], [Value.Strings], [Value.List], [Value.Fields],
// [Value.Secret]). A null value leaves a key unset. Aliases are followed;
// what an alias brings in is located at the alias. All the problems found
// are returned at once, joined with errors.Join, each a *[FieldError].
//
// # ${VAR} references
//
// In string values, ${NAME} is replaced by the environment variable NAME,
// and $${ is a literal ${. A reference to a variable that is unset or
// empty is an error, as are an unterminated ${ and a name that is not a
// portable variable name (letters, digits and _, not starting with a
// digit). [Secret] values are never expanded. Environment overrides are
// never expanded either.
//
// # Environment overrides
//
// Each command lists the keys it lets the environment override; the
// variable of a key is [EnvName]: GO402_ followed by the key's path in
// upper snake case, where a '.' and a lower-case-to-upper-case boundary
// become '_', and a final ".enabled" is dropped:
//
//	listen                       GO402_LISTEN
//	logLevel                     GO402_LOG_LEVEL
//	database.sqlite              GO402_DATABASE_SQLITE
//	auth.apiKeyHashes            GO402_AUTH_API_KEY_HASHES
//	devnet.enabled               GO402_DEVNET
//	facilitator.embedded.devnet  GO402_FACILITATOR_EMBEDDED_DEVNET
//
// The same variable means the same key in every command that has the key
// (GO402_LISTEN, GO402_LOG_LEVEL and GO402_LOG_FORMAT are read by both
// commands). An empty variable counts as unset. Overrides apply after the
// file and before the command-line flags, which override both; a problem
// with an overridden value names the variable instead of a line.
//
// # Errors
//
// A [FieldError] reads "file:line: field: message", such as
//
//	gateway.yaml:12: routes[0].price: must be a price such as "$0.001"
//
// or "file: field (from GO402_LISTEN): message" for a value that came from
// the environment or a flag. [Origins] remembers where each key's value
// came from, so that validation after decoding reports the same way.
package yamlconf
