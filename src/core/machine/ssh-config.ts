/** Is an SSH shutdown possible at all with this configuration? Returns the reason when not. Kept apart from ssh.ts so asking does not load ssh2. */
export function sshConfigProblem(t: { user?: string; password?: string; keyPath?: string }): string | null {
  if (!t.user) return "SSH is not configured: set SSH_USER and either SSH_KEY_PATH or SSH_PASS";
  if (!t.password && !t.keyPath) return "SSH is not configured: set SSH_KEY_PATH (preferred) or SSH_PASS";
  return null;
}
