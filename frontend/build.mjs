// Bundles src/main.ts and copies the static files into dist/, which the gateway serves.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist/assets", { recursive: true });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: "dist/assets/app.js",
  logLevel: "warning",
});
cpSync("public/index.html", "dist/index.html");
cpSync("public/app.css", "dist/assets/app.css");
