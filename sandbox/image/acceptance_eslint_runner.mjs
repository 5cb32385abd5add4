// The engine's ESLint run, inside the node sandbox (checks/eslint.py reads what it writes).
//
// Lives in /opt/acceptance/eslint beside the engine's pinned node_modules, so every
// import below resolves there and never in the delivery's node_modules. No configuration
// of the delivery is read (overrideConfigFile: true: no eslint.config.*, and flat config
// never reads .eslintrc* or package.json "eslintConfig"). The first pass ignores every
// inline comment (allowInlineConfig: false) and lists every finding; files that mention
// "eslint" are linted again as delivered, so the engine can tell which findings the
// supplier's comments would silence, and with what justification.
//
// argv[2]: JSON {mode: "sast" | "quality", root, out, ignores: [...], extra_files: [...],
// max_messages}. Writes one JSON document to `out`.
import { readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { ESLint } from "eslint";
import { builtinRules } from "eslint/use-at-your-own-risk";
import security from "eslint-plugin-security";
import js from "@eslint/js";
import tsParser from "@typescript-eslint/parser";
import tsPlugin from "@typescript-eslint/eslint-plugin";
import globals from "globals";

const require = createRequire(import.meta.url);
const options = JSON.parse(process.argv[2]);
const MAX_TEXT = 500;
const TYPESCRIPT = ["**/*.ts", "**/*.tsx", "**/*.mts", "**/*.cts"];
const SOURCES = ["**/*.js", "**/*.mjs", "**/*.cjs", "**/*.jsx", ...TYPESCRIPT];
// Quality on TypeScript: the core rules that misread type-only names, enums and overloads
// are off, and typescript-eslint's own no-unused-vars takes the core one's place (no type
// checker runs here, so nothing else is turned off).
const TYPESCRIPT_RULES = {
  "no-undef": "off", "no-redeclare": "off", "no-dupe-class-members": "off",
  "no-unused-vars": "off", "@typescript-eslint/no-unused-vars": "error",
};

// eslint-plugin-security's rules, and the core rules that run code from a string.
const SAST_RULES = Object.fromEntries([
  ...Object.keys(security.rules).map((name) => [`security/${name}`, "error"]),
  ["no-new-func", "error"],
  ["no-implied-eval", "error"],
]);

// Quality: the comments that may be directives, as ESLint's own parser read them (never a
// string that merely contains "eslint"); the engine decides on the host which ones count.
const MAX_COMMENTS = 50_000;
const comments = new Map();
let commentCount = 0;
// Both modes: the relative paths each file loads by a constant specifier (require, import,
// export ... from, import(), TypeScript's import = require), so a file Node would run
// without a JavaScript extension (require("./helper") of a file named `helper`) is read too.
const specifiers = new Map();
function constant(node) {
  if (node?.type === "Literal" && typeof node.value === "string") return node.value;
  if (node?.type === "TemplateLiteral" && node.expressions.length === 0) {
    return node.quasis[0].value.cooked;
  }
  return null;
}
const collector = {
  rules: {
    imports: {
      meta: { type: "problem", schema: [] },
      create(context) {
        const found = [];
        const add = (node) => {
          const value = constant(node);
          if (value !== null && /^\.\.?(\/|$)/.test(value)) found.push(value);
        };
        return {
          ImportDeclaration: (n) => add(n.source),
          ExportNamedDeclaration: (n) => add(n.source),
          ExportAllDeclaration: (n) => add(n.source),
          ImportExpression: (n) => add(n.source),
          TSExternalModuleReference: (n) => add(n.expression),
          CallExpression(n) {
            if (n.callee.type === "Identifier" && n.callee.name === "require") add(n.arguments[0]);
          },
          "Program:exit"() {
            specifiers.set(context.filename, found);
          },
        };
      },
    },
    comments: {
      meta: { type: "problem", schema: [] },
      create(context) {
        return {
          Program() {
            const found = [];
            for (const c of context.sourceCode.getAllComments()) {
              if (!c.value.includes("eslint")) continue;
              if (commentCount >= MAX_COMMENTS) break;
              commentCount += 1;
              found.push([c.loc.start.line, c.loc.end.line, c.type, text(c.value)]);
            }
            comments.set(context.filename, found);
          },
        };
      },
    },
  },
};
const QUALITY_RULES = { ...js.configs.recommended.rules, "acceptance/comments": "error" };
const ENGINE_RULES = { "acceptance/imports": "error" };

function configs(jsSourceType, followed = []) {
  const quality = options.mode === "quality";
  return [
    // ESLint ignores every node_modules by default; only the checkout's root one is not the
    // supplier's code (the engine replaces it), so a nested one (lib/node_modules/x.js,
    // which require("./node_modules/x") loads) is read like any other folder.
    { ignores: ["!**/node_modules/", "node_modules/", ...options.ignores] },
    {
      files: [...SOURCES, ...options.extra_files, ...followed],
      plugins: quality ? { acceptance: collector } : { security, acceptance: collector },
      rules: { ...(quality ? QUALITY_RULES : SAST_RULES), ...ENGINE_RULES },
      languageOptions: {
        ecmaVersion: "latest",
        sourceType: jsSourceType,
        globals: { ...globals.node, ...globals.es2024 },
      },
      linterOptions: { reportUnusedDisableDirectives: "off" },
    },
    { files: ["**/*.mjs"], languageOptions: { sourceType: "module" } },
    { files: ["**/*.cjs"], languageOptions: { sourceType: "commonjs" } },
    {
      files: ["**/*.jsx"],
      languageOptions: { parserOptions: { ecmaFeatures: { jsx: true } } },
    },
    // TypeScript through typescript-eslint's parser, without type information (no
    // tsconfig of the delivery is read); .tsx is JSX by its extension
    {
      files: TYPESCRIPT,
      languageOptions: { parser: tsParser },
      plugins: quality ? { "@typescript-eslint": tsPlugin } : {},
      rules: quality ? TYPESCRIPT_RULES : {},
    },
    { files: ["**/*.cts"], languageOptions: { sourceType: "commonjs" } },
  ];
}

function engine(jsSourceType, inline, followed = []) {
  return new ESLint({
    cwd: options.root,
    overrideConfigFile: true,
    overrideConfig: configs(jsSourceType, followed),
    allowInlineConfig: inline,
    warnIgnored: false,
    errorOnUnmatchedPattern: false,
    cache: false,
  });
}

const fatal = (result) => result.messages.some((m) => m.fatal);
function text(value) {
  return String(value ?? "").slice(0, MAX_TEXT);
}
const rel = (file) => path.relative(options.root, file);

// Pass 1: every finding, no inline comment honoured. A file that does not parse as an ES
// module, unless its extension says what it is, is read again as CommonJS (a top-level
// return, `with`, legacy octals).
const sourceType = new Map();
const FIXED_KIND = /\.(mjs|cjs|jsx|ts|tsx|mts|cts)$/;
async function lint(patterns, followed) {
  let found = await engine("module", false, followed).lintFiles(patterns);
  const retry = found.filter((r) => fatal(r) && !FIXED_KIND.test(r.filePath)).map((r) => r.filePath);
  if (retry.length) {
    const again = new Map(
      (await engine("commonjs", false, followed).lintFiles(retry)).map((r) => [r.filePath, r]),
    );
    found = found.map((r) => {
      const other = again.get(r.filePath);
      if (other && !fatal(other)) {
        sourceType.set(r.filePath, "commonjs");
        return other;
      }
      return r;
    });
  }
  return found;
}
let results = await lint(["."], []);

// The files loaded by a constant relative specifier that ESLint did not read (no JavaScript
// extension), followed until none is left: Node runs such a file as CommonJS.
const MAX_FOLLOWED = 1000;
const PATTERN_CHARS = /[*?[\]{}()!+@\\,]/;
// A folder loads its package.json's "main" (index.js and the like are linted anyway).
function packageMain(folder) {
  try {
    const main = JSON.parse(readFileSync(path.join(folder, "package.json"), "utf8")).main;
    return typeof main === "string" ? realpathSync(path.resolve(folder, main)) : null;
  } catch {
    return null;
  }
}
const followed = [];
const unfollowed = [];
const known = new Set(results.map((r) => r.filePath));
const root = realpathSync(options.root);
for (let round = 0; round < 50; round += 1) {
  const next = [];
  for (const [file, specs] of specifiers) {
    for (const spec of specs) {
      let target;
      try {
        target = realpathSync(path.resolve(path.dirname(file), spec));
        if (statSync(target).isDirectory()) target = packageMain(target);
        if (target === null || !statSync(target).isFile()) continue;
      } catch {
        continue; // not a file of the checkout as written: Node adds an extension or fails
      }
      if (known.has(target) || !target.startsWith(root + path.sep)) continue;
      known.add(target);
      const name = path.relative(root, target);
      if (name.split(path.sep)[0] === "node_modules" || target.endsWith(".json")) continue;
      if (target.endsWith(".node")) {
        unfollowed.push([name, "a compiled Node addon, which no scanner reads"]);
      } else if (PATTERN_CHARS.test(name) || followed.length + next.length >= MAX_FOLLOWED) {
        unfollowed.push([name, "a loaded file the engine cannot pass to ESLint"]);
      } else {
        next.push(name);
      }
    }
  }
  if (!next.length) break;
  followed.push(...next);
  results = results.concat(await lint(next, followed));
}

// Pass 2 (SAST): the files whose text could hold a directive, linted as delivered.
const delivered = new Map();
for (const kind of options.mode === "sast" ? ["module", "commonjs"] : []) {
  const files = results
    .filter((r) => (sourceType.get(r.filePath) ?? "module") === kind && !fatal(r))
    .map((r) => r.filePath)
    .filter((file) => readFileSync(file).includes("eslint"));
  if (files.length) {
    for (const r of await engine(kind, true, followed).lintFiles(files)) {
      delivered.set(r.filePath, r);
    }
  }
}

let count = 0;
let truncated = false;
const files = [];
for (const result of results) {
  const messages = [];
  for (const m of result.messages) {
    if (count >= options.max_messages) {
      truncated = true;
      break;
    }
    count += 1;
    messages.push({
      rule: m.ruleId ?? null, fatal: Boolean(m.fatal), severity: m.severity,
      line: m.line ?? 0, column: m.column ?? 0, message: text(m.message),
    });
  }
  const asDelivered = delivered.get(result.filePath);
  const directives = comments.get(result.filePath) ?? [];
  if (!messages.length && !asDelivered && !directives.length) continue;
  files.push({
    path: rel(result.filePath),
    messages,
    comments: directives,
    as_delivered: asDelivered
      ? {
          active: asDelivered.messages.slice(0, options.max_messages).map((m) => [m.line ?? 0, m.column ?? 0, m.ruleId ?? null]),
          suppressed: (asDelivered.suppressedMessages ?? []).slice(0, options.max_messages).map((m) => [
            m.line ?? 0, m.column ?? 0, m.ruleId ?? null,
            text((m.suppressions ?? []).map((s) => s.justification).filter(Boolean).join("; ")),
          ]),
        }
      : null,
  });
  if (truncated) break;
}

for (const [name, reason] of unfollowed) {
  files.push({
    path: name,
    messages: [{ rule: null, fatal: true, severity: 2, line: 1, column: 1, message: reason }],
    comments: [],
    as_delivered: null,
  });
}

const version = (name) => require(`${name}/package.json`).version;
writeFileSync(
  options.out,
  JSON.stringify({
    format: 1,
    mode: options.mode,
    tool: {
      eslint: ESLint.version,
      "eslint-plugin-security": version("eslint-plugin-security"),
      "typescript-eslint": version("@typescript-eslint/parser"),
    },
    files_checked: results.length,
    truncated,
    comments_truncated: commentCount >= MAX_COMMENTS,
    // ESLint's own kind of each core rule turned on: problem, suggestion or layout
    rule_types: Object.fromEntries(
      Object.keys({ ...(options.mode === "quality" ? QUALITY_RULES : SAST_RULES), ...TYPESCRIPT_RULES })
        .map((id) => [id, id.startsWith("@typescript-eslint/")
          ? tsPlugin.rules[id.slice("@typescript-eslint/".length)]
          : builtinRules.get(id)])
        .filter(([, rule]) => rule)
        .map(([id, rule]) => [id, rule.meta?.type ?? null]),
    ),
    files,
  }),
);
