import type { SshSettingNames } from "../../config/types.ts";

/** The variables, for a machine described by the environment (and for a target that names nothing). */
export const SSH_VARIABLES: SshSettingNames = { user: "SSH_USER", keyPath: "SSH_KEY_PATH", password: "SSH_PASS", of: "" };

/** Is an SSH shutdown possible at all with this configuration? Returns the reason when not. Kept apart from ssh.ts so asking does not load ssh2. */
export function sshConfigProblem(t: { user?: string; password?: string; keyPath?: string; names?: SshSettingNames }): string | null {
  const n = t.names ?? SSH_VARIABLES;
  if (!t.user) return `SSH is not configured: set ${n.user} and either ${n.keyPath} or ${n.password}${n.of}`;
  if (!t.password && !t.keyPath) return `SSH is not configured: set ${n.keyPath} (preferred) or ${n.password}${n.of}`;
  return null;
}
