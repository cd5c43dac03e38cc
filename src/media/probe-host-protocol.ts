/** What the gateway and its probe host (probe-host.ts) say to each other, one JSON object a line. */
export interface HostRequest {
  id: number;
  command: string;
  args: string[];
  timeoutMs: number;
}

/** A failed run as the host reports it: the tool failed (FfmpegError), or it could not start. */
export type HostFailure =
  | { kind: 'tool'; summary: string; stderrTail: string; exitCode: number | null; exitSignal: NodeJS.Signals | null }
  | { kind: 'start'; message: string; code: string | null };

export type HostAnswer = { id: number; stdout: string } | { id: number; failure: HostFailure };
