// The Quarry API from the browser: sign-in with the same user-pool call as the CLI (GET /auth/config,
// then Cognito's InitiateAuth, USER_PASSWORD_AUTH), JSON calls with the ID token, and the pre-signed
// upload form sent with XMLHttpRequest (fetch reports no upload progress).

const configured = document.querySelector('meta[name="quarry-api"]')?.content.trim();
export const API = (configured || window.location.origin).replace(/\/$/, "");
const SESSION_KEY = `quarry-session:${API}`;
const RENEW_BEFORE_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(SESSION_KEY));
  } catch {
    return null;
  }
}

let session = loadSession();

export function signedInAs() {
  return session?.username ?? null;
}

export function signOut() {
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
}

async function initiateAuth(config, flow, parameters) {
  const endpoint = config.cognito_endpoint || `https://cognito-idp.${config.region}.amazonaws.com/`;
  let response;
  try {
    response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth",
      },
      body: JSON.stringify({ AuthFlow: flow, ClientId: config.client_id, AuthParameters: parameters }),
    });
  } catch {
    throw new ApiError(0, "unreachable", `cannot reach the sign-in service at ${endpoint}`);
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new ApiError(response.status, answer.__type || "sign_in_refused", answer.message || "sign-in refused");
  }
  if (!answer.AuthenticationResult) {
    throw new ApiError(400, "challenge", `sign-in needs ${answer.ChallengeName}, which this page does not answer`);
  }
  return answer.AuthenticationResult;
}

function keep(config, username, result, refreshToken) {
  session = {
    username,
    config,
    idToken: result.IdToken,
    refreshToken: result.RefreshToken || refreshToken,
    expiresAt: Date.now() + (result.ExpiresIn || 3600) * 1000,
  };
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export async function signIn(username, password) {
  const config = await call("GET", "/auth/config", undefined, false);
  if (!config.client_id) throw new ApiError(503, "no_sign_in", "this API has no sign-in configured");
  const result = await initiateAuth(config, "USER_PASSWORD_AUTH", { USERNAME: username, PASSWORD: password });
  keep(config, username, result);
}

async function token() {
  if (!session) throw new ApiError(401, "unauthorized", "please sign in");
  if (session.expiresAt - RENEW_BEFORE_MS < Date.now()) {
    const result = await initiateAuth(session.config, "REFRESH_TOKEN_AUTH", { REFRESH_TOKEN: session.refreshToken });
    keep(session.config, session.username, result, session.refreshToken);
  }
  return session.idToken;
}

export async function call(method, path, body, signed = true) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (signed) headers.Authorization = `Bearer ${await token()}`;
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "unreachable", `cannot reach the API at ${API}`);
  }
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const error = answer?.error || {};
    throw new ApiError(response.status, error.code || "http_error", error.message || `HTTP ${response.status}`);
  }
  return answer;
}

// POST the form's fields, then the file (S3 reads the fields first); onProgress(fraction) as bytes leave.
export function sendForm(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);
    const request = new XMLHttpRequest();
    request.open(upload.method, upload.url);
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    request.addEventListener("load", () =>
      request.status < 300
        ? resolve()
        : reject(new ApiError(request.status, "upload_refused", `the storage refused the file (HTTP ${request.status})`)),
    );
    request.addEventListener("error", () => reject(new ApiError(0, "unreachable", "the upload did not reach the storage")));
    request.send(form);
  });
}
