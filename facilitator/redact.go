package facilitator

import "strings"

// redactError returns err's text with every URL reduced by redactURLs.
func redactError(err error) string {
	if err == nil {
		return ""
	}
	return redactURLs(err.Error())
}

// redactURLs reduces every URL in s to its scheme and host, followed by
// "/…" when it had more: RPC providers put API keys in the path or query,
// and transport errors quote the URL they failed on (Post
// "https://host/v2/KEY": ...). User information (user:password@) is
// dropped as well. Text that is not a URL is left as it is.
func redactURLs(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		start := i
		for start > 0 && isSchemeByte(s[start-1]) {
			start--
		}
		for start < i && !isLetter(s[start]) {
			start++ // a scheme starts with a letter
		}
		if start == i {
			b.WriteString(s[:i+3])
			s = s[i+3:]
			continue
		}
		end := i + 3
		for end < len(s) && !endsURL(s[end]) {
			end++
		}
		b.WriteString(s[:start])
		b.WriteString(redactURL(s[start:i], s[i+3:end]))
		s = s[end:]
	}
}

// redactURL is scheme://host of a URL whose text after "://" is rest.
func redactURL(scheme, rest string) string {
	authority, more := rest, ""
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority, more = rest[:j], rest[j:]
	}
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	out := scheme + "://" + authority
	if more != "" && more != "/" {
		out += "/…"
	}
	return out
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isSchemeByte(c byte) bool {
	return isLetter(c) || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'
}

// endsURL reports whether c cannot be part of a URL as error messages
// quote them.
func endsURL(c byte) bool {
	switch c {
	case '"', '\'', '`', '<', '>', 0x7f:
		return true
	}
	return c <= ' '
}
