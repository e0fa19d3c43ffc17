// Sign-in through Cognito's hosted UI: authorization code + PKCE (S256). Only the PKCE verifier
// and state cross the redirect (sessionStorage, removed on return); tokens stay in memory.
const KEY = "enclave.pkce";

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function startHostedSignIn(config, region) {
  const pool = config.pools[region];
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem(KEY, JSON.stringify({ verifier, state, region }));
  const url = new URL("/oauth2/authorize", pool.domain);
  url.search = new URLSearchParams({ response_type: "code", client_id: pool.client_id, redirect_uri: config.redirect_uri,
    scope: "openid", state, code_challenge: challenge, code_challenge_method: "S256" }).toString();
  location.assign(url.toString());
}

export async function finishHostedSignIn(config) {
  const params = new URLSearchParams(location.search);
  const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
  sessionStorage.removeItem(KEY);
  if (!params.get("code") || !saved || params.get("state") !== saved.state) return null;
  history.replaceState(null, "", location.pathname);
  const pool = config.pools[saved.region];
  const response = await fetch(new URL("/oauth2/token", pool.domain), {
    method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", client_id: pool.client_id, code: params.get("code"),
                                redirect_uri: config.redirect_uri, code_verifier: saved.verifier }),
  });
  if (!response.ok) throw new Error("the sign-in could not be completed");
  return { token: (await response.json()).id_token, region: saved.region };
}
