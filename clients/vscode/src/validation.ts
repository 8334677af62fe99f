// Validation of what the user types in the input boxes. Each function returns
// a message for `validateInput` (shown under the box) or `undefined` when the
// value is fine. The server has the final word; these only catch typos early.

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const MIN_PASSWORD = 8;

export function validateEmail(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter your email address.";
  if (!EMAIL.test(v)) return "This does not look like an email address.";
  return undefined;
}

export function validateUsername(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter a username.";
  if (v.length < 3 || v.length > 32) return "A username has 3 to 32 characters.";
  if (!USERNAME.test(v)) return "Use letters, digits, '.', '_' or '-', starting with a letter or digit.";
  return undefined;
}

/** Login accepts an email or a username. */
export function validateLogin(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter your email or username.";
  return v.includes("@") ? validateEmail(v) : validateUsername(v);
}

/** The login request's identity field. */
export function loginIdentity(value: string): { email: string } | { username: string } {
  const v = value.trim();
  return v.includes("@") ? { email: v } : { username: v };
}

export function validatePassword(value: string): string | undefined {
  if (!value) return "Enter a password.";
  if (value.length < MIN_PASSWORD) return `A password has at least ${MIN_PASSWORD} characters.`;
  return undefined;
}

/** For logging in: any non-empty password (old accounts may predate rules). */
export function validateExistingPassword(value: string): string | undefined {
  return value ? undefined : "Enter your password.";
}

export function confirmPassword(first: string): (value: string) => string | undefined {
  return (value) => (value === first ? undefined : "The passwords do not match.");
}

export function validateResetCode(value: string): string | undefined {
  const v = value.trim();
  if (!v) return "Enter the code from the email.";
  if (/\s/.test(v)) return "The code has no spaces.";
  return undefined;
}

/** An empty token is allowed: it removes the stored one. */
export function validateHfToken(value: string): string | undefined {
  const v = value.trim();
  if (!v) return undefined;
  if (/\s/.test(v)) return "A token has no spaces.";
  if (v.length < 8) return "This is too short to be a Hugging Face token.";
  return undefined;
}
