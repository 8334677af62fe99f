// Account commands: each asks for what it needs in input boxes (passwords
// hidden) and hands it to the server. Nothing typed here is logged or kept.

import * as vscode from "vscode";
import { renderProfile, type Profile } from "./markdown";
import type { Server } from "./server";
import { ask, withBusy } from "./ui";
import {
  confirmPassword,
  loginIdentity,
  validateEmail,
  validateExistingPassword,
  validateLogin,
  validatePassword,
  validateResetCode,
  validateUsername,
} from "./validation";
import type { MarkdownDocuments } from "./views";

interface User {
  readonly username: string;
  readonly email: string;
}

export class Accounts {
  /** The email of the last "forgot password", to prefill the reset. */
  private lastEmail = "";

  constructor(
    private readonly server: Server,
    private readonly docs: MarkdownDocuments,
    private readonly changed: () => void,
  ) {}

  private async newPassword(prompt: string): Promise<string | undefined> {
    const password = await ask({ title: prompt, prompt: "At least 8 characters", password: true, validateInput: validatePassword });
    if (password === undefined) return undefined;
    const again = await ask({ title: prompt, prompt: "Type it again", password: true, validateInput: confirmPassword(password) });
    return again === undefined ? undefined : password;
  }

  async signUp(): Promise<void> {
    this.server.requireRunning();
    const title = "CodeGenie: Sign Up";
    const email = await ask({ title, prompt: "Email", placeHolder: "you@example.com", validateInput: validateEmail });
    if (email === undefined) return;
    const username = await ask({ title, prompt: "Username", validateInput: validateUsername });
    if (username === undefined) return;
    const password = await this.newPassword(title);
    if (password === undefined) return;
    const { user } = await withBusy("CodeGenie: creating your account…", (t) =>
      this.server.execute<{ user: User }>("codegenie.signup", { email: email.trim(), username: username.trim(), password }, t),
    );
    this.changed();
    void vscode.window.showInformationMessage(`CodeGenie: welcome, ${user.username}! You are signed in.`);
  }

  async logIn(): Promise<void> {
    this.server.requireRunning();
    const title = "CodeGenie: Log In";
    const id = await ask({ title, prompt: "Email or username", validateInput: validateLogin });
    if (id === undefined) return;
    const password = await ask({ title, prompt: "Password", password: true, validateInput: validateExistingPassword });
    if (password === undefined) return;
    const { user } = await withBusy("CodeGenie: logging in…", (t) =>
      this.server.execute<{ user: User }>("codegenie.login", { ...loginIdentity(id), password }, t),
    );
    this.changed();
    void vscode.window.showInformationMessage(`CodeGenie: signed in as ${user.username}.`);
  }

  async logOut(): Promise<void> {
    await this.server.execute("codegenie.logout", {});
    this.changed();
    void vscode.window.showInformationMessage("CodeGenie: signed out.");
  }

  async forgotPassword(): Promise<void> {
    this.server.requireRunning();
    const email = await ask({ title: "CodeGenie: Forgot Password", prompt: "The email of your account", value: this.lastEmail, validateInput: validateEmail });
    if (email === undefined) return;
    this.lastEmail = email.trim();
    const { message } = await withBusy("CodeGenie: sending a reset code…", (t) =>
      this.server.execute<{ message?: string }>("codegenie.forgotPassword", { email: this.lastEmail }, t),
    );
    const enter = "Enter Reset Code";
    const pick = await vscode.window.showInformationMessage(
      `CodeGenie: ${message ?? "If an account has this email, a reset code is on its way."}`,
      enter,
    );
    if (pick === enter) await this.resetPassword();
  }

  async resetPassword(): Promise<void> {
    this.server.requireRunning();
    const title = "CodeGenie: Reset Password";
    const email = await ask({ title, prompt: "The email of your account", value: this.lastEmail, validateInput: validateEmail });
    if (email === undefined) return;
    const code = await ask({ title, prompt: "The code from the email", password: true, validateInput: validateResetCode });
    if (code === undefined) return;
    const newPassword = await this.newPassword(title);
    if (newPassword === undefined) return;
    await withBusy("CodeGenie: setting the new password…", (t) =>
      this.server.execute("codegenie.resetPassword", { email: email.trim(), code: code.trim(), newPassword }, t),
    );
    void vscode.window.showInformationMessage("CodeGenie: your password is changed. Log in with the new one.");
  }

  async showProfile(): Promise<void> {
    const profile = await this.server.execute<Profile>("codegenie.profile", {});
    await this.docs.set("/profile.md", renderProfile(profile), true);
  }
}
