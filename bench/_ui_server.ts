/**
 * The real `floe serve` of tests/ui/_server.ts in a process of its own, for bench/ui.ts: the browser
 * driver's protocol traffic (Playwright's client runs on the bench's event loop) must not delay the
 * server's answers. Prints `{url, token, repository, bigDir}` as one JSON line once the server listens,
 * and stops the server when its standard input closes.
 *
 * @example
 * ```ts
 * const child = new Deno.Command(Deno.execPath(), {
 *   args: ["run", "--allow-all", new URL("./_ui_server.ts", import.meta.url).pathname],
 *   stdin: "piped",
 *   stdout: "piped",
 * }).spawn();
 * ```
 * @module
 */
import { startServer } from "../tests/ui/_server.ts";

if (import.meta.main) {
  const server = await startServer();
  const { url, token, repository, bigDir } = server;
  await Deno.stdout.write(
    new TextEncoder().encode(JSON.stringify({ url, token, repository, bigDir }) + "\n"),
  );
  for await (const _ of Deno.stdin.readable) { /* until the bench closes the pipe */ }
  await server.close();
}
