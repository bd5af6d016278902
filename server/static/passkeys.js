// The browser side of keyward's passkey ceremonies (WebAuthn): sign-in on
// the login page, by button or by the username field's autofill
// (conditional mediation), the second factor, and registration on the
// passkey page or on the enrolment a user must complete. The
// server draws every challenge and keeps it; this script only carries the
// options to navigator.credentials and the authenticator's answer back.
"use strict";
(() => {
  const enc = (buf) => {
    let s = "";
    for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const dec = (s) => {
    const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(b.length);
    for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
    return out.buffer;
  };

  const post = async (path, csrf, body) => {
    const r = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body === undefined ? {} : body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(data.error_description || "The request failed.");
      e.name = "ServerError";
      throw e;
    }
    return data;
  };

  const requestOptions = (pk) => {
    pk.challenge = dec(pk.challenge);
    for (const c of pk.allowCredentials || []) c.id = dec(c.id);
    return pk;
  };
  const creationOptions = (pk) => {
    pk.challenge = dec(pk.challenge);
    pk.user.id = dec(pk.user.id);
    for (const c of pk.excludeCredentials || []) c.id = dec(c.id);
    return pk;
  };
  const assertionJSON = (c) => ({
    id: c.id,
    rawId: enc(c.rawId),
    type: c.type,
    authenticatorAttachment: c.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: enc(c.response.clientDataJSON),
      authenticatorData: enc(c.response.authenticatorData),
      signature: enc(c.response.signature),
      userHandle: c.response.userHandle ? enc(c.response.userHandle) : undefined,
    },
    clientExtensionResults: c.getClientExtensionResults(),
  });
  const attestationJSON = (c) => ({
    id: c.id,
    rawId: enc(c.rawId),
    type: c.type,
    authenticatorAttachment: c.authenticatorAttachment || undefined,
    response: {
      clientDataJSON: enc(c.response.clientDataJSON),
      attestationObject: enc(c.response.attestationObject),
      transports: c.response.getTransports ? c.response.getTransports() : [],
    },
    clientExtensionResults: c.getClientExtensionResults(),
  });

  const show = (el, e) => {
    if (!el || (e && e.name === "AbortError")) return;
    el.textContent =
      e && e.name === "ServerError"
        ? e.message
        : e && e.name === "NotAllowedError"
          ? "The passkey request was cancelled or timed out."
          : "The passkey could not be used here.";
    el.hidden = false;
  };

  if (!window.PublicKeyCredential || !navigator.credentials) return;

  // After a sign-in or a second factor the browser's session is complete:
  // the authorization request of the page's form goes on, posted with its
  // hidden fields and mfa_action=continue as the button under the recovery
  // codes does (a GET would ask again for the login that max_age=0 asks
  // for), or the account page opens.
  const proceeder = (form) => () => {
    if (form.getAttribute("action") !== "/authorize") {
      location.assign("/account");
      return;
    }
    const next = document.createElement("form");
    next.method = "post";
    next.action = "/authorize";
    const field = (name, value) => {
      const el = document.createElement("input");
      el.type = "hidden";
      el.name = name;
      el.value = value;
      next.append(el);
    };
    for (const el of form.querySelectorAll('input[type="hidden"]')) {
      if (el.name !== "mfa_action") field(el.name, el.value);
    }
    field("mfa_action", "continue");
    document.body.append(next);
    next.submit();
  };

  // The second-factor form: a passkey confirms the password.
  const factor = document.getElementById("passkey-factor");
  if (factor) {
    const form = factor.closest("main").querySelector("form");
    const csrf = form.querySelector('input[name="csrf_token"]').value;
    const error = document.getElementById("passkey-error");
    const proceed = proceeder(form);
    factor.hidden = false;
    factor.addEventListener("click", async () => {
      error.hidden = true;
      try {
        const { publicKey } = await post("/passkeys/factor/begin", csrf);
        const cred = await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
        await post("/passkeys/factor/finish", csrf, assertionJSON(cred));
        proceed();
      } catch (e) {
        show(error, e);
      }
    });
  }

  // The login page: the form of the authorization request, or of the
  // account page's sign-in.
  const signin = document.getElementById("passkey-signin");
  if (signin) {
    const form = signin.closest("main").querySelector("form");
    const csrf = form.querySelector('input[name="csrf_token"]').value;
    const error = document.getElementById("passkey-error");
    const proceed = proceeder(form);
    const run = async (mediation, signal) => {
      const { publicKey } = await post("/passkeys/login/begin", csrf);
      const cred = await navigator.credentials.get({ publicKey: requestOptions(publicKey), mediation, signal });
      await post("/passkeys/login/finish", csrf, assertionJSON(cred));
      proceed();
    };
    let autofill = null; // the conditional request: its start and its abort
    signin.hidden = false;
    signin.addEventListener("click", async () => {
      error.hidden = true;
      if (autofill) {
        await autofill.started.catch(() => {});
        autofill.abort.abort();
        autofill = null;
      }
      run("optional").catch((e) => show(error, e));
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then((ok) => {
        if (!ok || autofill) return;
        const abort = new AbortController();
        let started;
        const begun = new Promise((resolve) => (started = resolve));
        autofill = { abort, started: begun };
        (async () => {
          try {
            const { publicKey } = await post("/passkeys/login/begin", csrf);
            started();
            const cred = await navigator.credentials.get({
              publicKey: requestOptions(publicKey),
              mediation: "conditional",
              signal: abort.signal,
            });
            await post("/passkeys/login/finish", csrf, assertionJSON(cred));
            proceed();
          } catch (e) {
            started();
            // An autofill the user did not pick, or that found no
            // passkey, fails quietly; a refusal by the issuer is shown.
            if (e.name === "ServerError") show(error, e);
          }
        })();
      });
    }
  }

  // The enrolment a user must complete: a passkey as the first second
  // factor, instead of an authenticator app. Its registration joins the
  // session's factors; the request the enrolment was for then goes on.
  const enrol = document.getElementById("passkey-enrol");
  if (enrol) {
    const form = enrol.closest("main").querySelector("form");
    const csrf = form.querySelector('input[name="csrf_token"]').value;
    const error = document.getElementById("passkey-error");
    const proceed = proceeder(form);
    enrol.hidden = false;
    enrol.addEventListener("click", async () => {
      error.hidden = true;
      enrol.disabled = true;
      try {
        const { publicKey } = await post("/account/passkeys/register/begin", csrf);
        const cred = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
        await post("/account/passkeys/register/finish", csrf, {
          name: document.getElementById("passkey-name").value,
          credential: attestationJSON(cred),
        });
        proceed();
      } catch (e) {
        show(error, e);
      } finally {
        enrol.disabled = false;
      }
    });
  }

  // The passkey page: registration.
  const register = document.getElementById("passkey-register-button");
  if (register) {
    const form = document.getElementById("passkey-register");
    const csrf = form.dataset.csrf;
    const error = document.getElementById("passkey-error");
    register.hidden = false;
    register.addEventListener("click", async () => {
      error.hidden = true;
      register.disabled = true;
      try {
        const { publicKey } = await post("/account/passkeys/register/begin", csrf);
        const cred = await navigator.credentials.create({ publicKey: creationOptions(publicKey) });
        await post("/account/passkeys/register/finish", csrf, {
          name: document.getElementById("passkey-name").value,
          credential: attestationJSON(cred),
        });
        location.assign("/account/passkeys?done=registered");
      } catch (e) {
        show(error, e);
      } finally {
        register.disabled = false;
      }
    });
  }
})();
