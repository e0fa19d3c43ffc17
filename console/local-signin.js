// Local sign-in (make run only): Cognito's InitiateAuth with USER_PASSWORD_AUTH against the
// emulator's pools, through the local console server. The deployed build does not contain this file.
export async function localSignIn(config, region, username, password) {
  const response = await fetch(config.local_cognito + region, {
    method: "POST",
    headers: { "Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth" },
    body: JSON.stringify({ AuthFlow: "USER_PASSWORD_AUTH", ClientId: config.pools[region].client_id,
                           AuthParameters: { USERNAME: username, PASSWORD: password } }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.message || "sign-in refused");
  return body.AuthenticationResult.IdToken;
}
