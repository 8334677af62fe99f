// Turning what went wrong into one sentence for the user. The server's
// JSON-RPC error messages are written for people, so they are shown as is.

export class ServerNotRunning extends Error {
  constructor() {
    super("The CodeGenie server is not running. Check the CodeGenie output for why, or run “CodeGenie: Restart Server”.");
    this.name = "ServerNotRunning";
  }
}

/** JSON-RPC `RequestFailed`, also used for commands this server build lacks. */
export const REQUEST_FAILED = -32803;

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === "object" && e !== null && "message" in e && typeof (e as { message: unknown }).message === "string") {
    return (e as { message: string }).message;
  }
  return String(e);
}

/** Whether the error is the server saying it does not know or support the command. */
export function isUnsupported(e: unknown): boolean {
  const code = typeof e === "object" && e !== null && "code" in e ? (e as { code: unknown }).code : undefined;
  const message = errorMessage(e);
  return (code === REQUEST_FAILED && /not supported/i.test(message)) || /^unknown command/i.test(message);
}
