// go402 paywall: pays the x402 "exact" option chosen by the server with an
// EIP-1193 wallet (EIP-3009 TransferWithAuthorization signed with
// eth_signTypedData_v4), then requests this page's URL again with the
// PAYMENT-SIGNATURE header. Untrusted text is only ever set as textContent.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var cfg = JSON.parse($("x402-data").textContent);
  var pr = cfg.paymentRequired;
  var req = cfg.option >= 0 ? pr.accepts[cfg.option] : null;
  var connectBtn = $("connect"), payBtn = $("pay"), status = $("status");
  var account = null, listening = false;
  if (!req || !connectBtn || !payBtn) return;
  var chainId = Number(String(req.network).split(":")[1]);

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || "";
  }

  function wallet() {
    var eth = window.ethereum;
    if (!eth || typeof eth.request !== "function") {
      throw new Error("No browser wallet found. Install an Ethereum wallet extension, then reload this page.");
    }
    return eth;
  }

  // reason turns a wallet or network error into a sentence.
  function reason(e) {
    if (e && e.code === 4001) return "You rejected the request in your wallet.";
    if (e && e.code === -32002) return "Your wallet already has a pending request; open it to continue.";
    return (e && e.message) || String(e);
  }

  function busy(on) {
    connectBtn.disabled = on;
    payBtn.disabled = on || !account;
  }

  function setAccount(a) {
    account = a || null;
    var el = $("account");
    el.hidden = !account;
    el.textContent = account ? "Paying from " + account : "";
    connectBtn.textContent = account ? "Connected" : "Connect wallet";
    connectBtn.className = account ? "" : "primary";
    payBtn.className = account ? "primary" : "";
    payBtn.disabled = !account;
  }

  async function connect() {
    busy(true);
    say("Waiting for your wallet…");
    try {
      var eth = wallet();
      var accounts = await eth.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw new Error("Your wallet shared no account.");
      setAccount(accounts[0]);
      if (typeof eth.on === "function" && !listening) {
        listening = true;
        eth.on("accountsChanged", function (a) { setAccount(a && a[0]); });
      }
      var current = await eth.request({ method: "eth_chainId" });
      if (Number(current) !== chainId) {
        try {
          await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: "0x" + chainId.toString(16) }] });
        } catch (e) {
          say("Switch your wallet to " + req.network + " (chain id " + chainId + "), then pay. The wallet said: " + reason(e), "err");
          return;
        }
      }
      say("Connected. Review the price, then pay.");
    } catch (e) {
      say(reason(e), "err");
    } finally {
      busy(false);
    }
  }

  function hex(bytes) {
    return Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  // base64 of the UTF-8 bytes of s.
  function toBase64(s) {
    var bytes = new TextEncoder().encode(s), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  // fromBase64JSON decodes a base64 (standard or URL-safe) JSON header, or
  // returns null.
  function fromBase64JSON(h) {
    if (!h) return null;
    try {
      var s = h.trim().replace(/-/g, "+").replace(/_/g, "/");
      while (s.length % 4) s += "=";
      var bin = atob(s);
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, function (c) { return c.charCodeAt(0); })));
    } catch (e) {
      return null;
    }
  }

  function typedData(auth) {
    return {
      types: {
        EIP712Domain: [
          { name: "name", type: "string" },
          { name: "version", type: "string" },
          { name: "chainId", type: "uint256" },
          { name: "verifyingContract", type: "address" }
        ],
        TransferWithAuthorization: [
          { name: "from", type: "address" },
          { name: "to", type: "address" },
          { name: "value", type: "uint256" },
          { name: "validAfter", type: "uint256" },
          { name: "validBefore", type: "uint256" },
          { name: "nonce", type: "bytes32" }
        ]
      },
      primaryType: "TransferWithAuthorization",
      domain: { name: req.extra.name, version: req.extra.version, chainId: chainId, verifyingContract: req.asset },
      message: auth
    };
  }

  async function pay() {
    busy(true);
    try {
      var eth = wallet();
      var now = Math.floor(Date.now() / 1000);
      var auth = {
        from: account,
        to: req.payTo,
        value: String(req.amount),
        validAfter: String(now - 600),
        validBefore: String(now + req.maxTimeoutSeconds),
        nonce: "0x" + hex(crypto.getRandomValues(new Uint8Array(32)))
      };
      say("Sign the payment in your wallet…");
      var signature = await eth.request({ method: "eth_signTypedData_v4", params: [account, JSON.stringify(typedData(auth))] });
      var payment = { x402Version: 2, resource: pr.resource, accepted: req, payload: { signature: signature, authorization: auth } };
      say("Paying…");
      var res = await fetch(location.href, {
        method: "GET",
        headers: { "PAYMENT-SIGNATURE": toBase64(JSON.stringify(payment)), "Accept": "text/html,application/json;q=0.9,*/*;q=0.8" },
        credentials: "same-origin",
        cache: "no-store"
      });
      var settled = fromBase64JSON(res.headers.get("PAYMENT-RESPONSE"));
      if (res.ok) {
        await showPaid(res, settled);
        return;
      }
      await showFailure(res, settled);
    } catch (e) {
      say("Payment failed: " + reason(e), "err");
    } finally {
      busy(false);
    }
  }

  function paidNote(settled) {
    return settled && settled.transaction ? "Paid · transaction " + settled.transaction : "Paid.";
  }

  // receipt shows a dismissible transaction note over paid HTML.
  function receipt(tx) {
    var bar = document.createElement("div"), text = document.createElement("span"), hash = document.createElement("code"),
      close = document.createElement("button");
    bar.id = "x402-receipt";
    bar.setAttribute("role", "status");
    bar.style.cssText = "position:fixed;left:50%;bottom:12px;transform:translateX(-50%);max-width:calc(100% - 24px);z-index:2147483647;" +
      "display:flex;gap:10px;align-items:center;padding:8px 12px;border-radius:10px;background:#1b1e24;color:#fff;" +
      "font:12px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px rgba(0,0,0,.25);overflow-wrap:anywhere";
    text.textContent = "Paid · transaction ";
    hash.textContent = tx;
    hash.style.cssText = "font:11px ui-monospace,Menlo,Consolas,monospace";
    text.appendChild(hash);
    close.type = "button";
    close.textContent = "\u00d7";
    close.setAttribute("aria-label", "Dismiss");
    close.style.cssText = "border:0;background:none;color:inherit;font:18px/1 sans-serif;cursor:pointer;padding:0 2px";
    close.addEventListener("click", function () { bar.remove(); });
    bar.append(text, close);
    document.body.appendChild(bar);
  }

  async function showPaid(res, settled) {
    var type = (res.headers.get("Content-Type") || "").toLowerCase();
    if (/^(text\/html|application\/xhtml\+xml)/.test(type)) {
      var html = await res.text();
      document.open();
      document.write(html);
      document.close();
      if (settled && settled.transaction) {
        if (document.body) receipt(settled.transaction);
        else document.addEventListener("DOMContentLoaded", function () { receipt(settled.transaction); });
      }
      return;
    }
    var out = $("result");
    out.textContent = "";
    if (/^image\//.test(type)) {
      var img = document.createElement("img");
      img.alt = (pr.resource && pr.resource.description) || "Paid image";
      img.src = URL.createObjectURL(await res.blob());
      out.appendChild(img);
    } else if (/json|^text\//.test(type) || !type) {
      var text = await res.text(), pre = document.createElement("pre");
      try { if (/json/.test(type)) text = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* show as sent */ }
      pre.textContent = text;
      out.appendChild(pre);
    } else {
      var a = document.createElement("a");
      a.href = URL.createObjectURL(await res.blob());
      a.download = location.pathname.split("/").pop() || "download";
      a.textContent = "Download the paid file";
      out.appendChild(a);
    }
    out.hidden = false;
    document.querySelector(".actions").hidden = true;
    document.querySelector("h1").textContent = "Payment complete";
    say(paidNote(settled), "ok");
  }

  async function showFailure(res, settled) {
    var why = settled && (settled.errorReason || settled.errorMessage) ?
      [settled.errorReason, settled.errorMessage].filter(Boolean).join(": ") : "";
    var again = fromBase64JSON(res.headers.get("PAYMENT-REQUIRED"));
    if (!why && again && again.error) why = again.error;
    if (!why) {
      try { why = String((await res.json()).error || ""); } catch (e) { /* not JSON */ }
    }
    say("Payment failed (" + res.status + "): " + (why || res.statusText || "no reason given"), "err");
  }

  connectBtn.addEventListener("click", connect);
  payBtn.addEventListener("click", pay);
})();
