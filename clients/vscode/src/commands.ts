// Command ids: the extension's own (contributed in package.json) and the
// server's (`workspace/executeCommand`). The language client registers a
// VS Code command for each server command so that code actions can run them,
// so the two sets must never share a name.

export const CLIENT_COMMANDS = {
  signUp: "codegenie.signUp",
  logIn: "codegenie.logIn",
  logOut: "codegenie.logOut",
  forgotPassword: "codegenie.requestPasswordReset",
  resetPassword: "codegenie.resetPasswordWithCode",
  showProfile: "codegenie.showProfile",
  showHistory: "codegenie.showHistory",
  selectModel: "codegenie.selectModel",
  generate: "codegenie.generateFromComment",
  explain: "codegenie.explainSelection",
  setHfToken: "codegenie.setHuggingFaceToken",
  cancel: "codegenie.cancelRunning",
  restartServer: "codegenie.restartServer",
  showOutput: "codegenie.showOutput",
  statusBarClick: "codegenie.statusBarClick",
  toggleInlineCompletion: "codegenie.toggleInlineCompletion",
} as const;

export type ClientCommand = keyof typeof CLIENT_COMMANDS;

/** The server's commands, as listed in its `executeCommandProvider`. */
export const SERVER_COMMANDS = [
  "codegenie.generate",
  "codegenie.explain",
  "codegenie.cancel",
  "codegenie.signup",
  "codegenie.login",
  "codegenie.logout",
  "codegenie.forgotPassword",
  "codegenie.resetPassword",
  "codegenie.profile",
  "codegenie.changePassword",
  "codegenie.deleteAccount",
  "codegenie.status",
  "codegenie.history",
  "codegenie.deleteHistoryEntry",
  "codegenie.clearHistory",
  "codegenie.models",
] as const;

export type ServerCommand = (typeof SERVER_COMMANDS)[number];
