/** @jsxImportSource hono/jsx */
/**
 * The HTML shell of the web UI: the same bytes for every visitor, with no data in it (the client
 * fetches everything with the token).
 *
 * @example
 * ```ts
 * import { shell } from "./_shell.tsx";
 * const html = shell({ apiBase: "/api/v1", title: "floe" });
 * ```
 * @module
 */

/** What the shell needs to know. */
export interface ShellOptions {
  /** The API's path, handed to the client in a meta tag. */
  apiBase: string;
  /** The page title. */
  title: string;
}

/**
 * The modules of the first page (the dashboard), preloaded so the browser fetches them in parallel instead
 * of discovering them import by import; app.js imports the other pages when they are opened.
 */
const MODULES = ["app.js", "api.js", "dom.js", "dashboard.js", "runs.js"];

const PAGES: [string, string][] = [
  ["#/", "Dashboard"],
  ["#/runs", "Runs"],
  ["#/snapshots", "Snapshots"],
  ["#/jobs", "Jobs"],
];

/**
 * Renders the shell to an HTML string.
 *
 * @example
 * ```ts
 * import { shell } from "./_shell.tsx";
 * console.log(shell({ apiBase: "/api/v1", title: "floe" }).startsWith("<!doctype html>"));
 * ```
 */
export function shell(o: ShellOptions): string {
  const page = (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="floe-api" content={o.apiBase} />
        <title>{o.title}</title>
        <link rel="icon" href="ui/icon.svg" type="image/svg+xml" />
        <link rel="stylesheet" href="ui/style.css" />
        {MODULES.map((m) => <link key={m} rel="modulepreload" href={`ui/${m}`} />)}
        <script type="module" src="ui/app.js"></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="top">
          <span class="brand">{o.title}</span>
          <nav aria-label="Pages" id="nav" hidden>
            <ul>
              {PAGES.map(([href, label]) => (
                <li>
                  <a href={href} data-page={href}>{label}</a>
                </li>
              ))}
            </ul>
          </nav>
          <button type="button" id="logout" hidden>Log out</button>
        </header>
        <main id="main" tabindex={-1}>
          <section id="login" class="login" hidden aria-labelledby="login-title">
            <h1 id="login-title">Log in</h1>
            <p>
              Paste the server's API token (from <code>FLOE_SERVER_TOKEN</code> or the
              <code>server-token</code> file), or open this page as <code>/#token=…</code>.
            </p>
            <form id="login-form">
              <label for="token">API token</label>
              <input id="token" name="token" type="password" autocomplete="off" required spellcheck={false} />
              <button type="submit">Log in</button>
              <p id="login-error" class="error" role="alert"></p>
            </form>
          </section>
          <div id="view" aria-live="polite"></div>
        </main>
        <noscript>The floe web UI needs JavaScript.</noscript>
      </body>
    </html>
  );
  return "<!doctype html>" + page.toString();
}
