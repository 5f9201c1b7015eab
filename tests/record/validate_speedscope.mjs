// Validates a speedscope file against the schema that speedscope's own
// package ships (the one its importer was written against), with ajv.
// Usage: node validate_speedscope.mjs FILE
// The node_modules holding speedscope and ajv: $MSTTOP_NODE_MODULES, else
// node_modules beside this script. Prints "speedscope schema ok" (exit 0)
// or the errors (exit 1).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = path.resolve(process.env.MSTTOP_NODE_MODULES || path.join(here, 'node_modules'));

function fail(msg) {
  console.log(msg);
  process.exit(1);
}

if (process.argv.length !== 3)
  fail('usage: validate_speedscope.mjs FILE');
const file = process.argv[2];

// Resolved from the given node_modules, not from this script's place: the
// packages are installed outside the source tree.
const require = createRequire(path.join(modules, 'noop.js'));
let Ajv, schema;
try {
  Ajv = require('ajv').default;
  schema = JSON.parse(readFileSync(path.join(modules, 'speedscope/dist/release/file-format-schema.json'), 'utf8'));
} catch (e) {
  fail(`cannot load ajv or speedscope's schema from ${modules} (npm ci done?): ${e.message}`);
}

let text, data;
try {
  text = readFileSync(file);
} catch (e) {
  fail(`cannot read ${file}: ${e.message}`);
}
// JSON must be UTF-8 (RFC 8259); a lenient decode would hide bytes that
// other readers reject.
try {
  text = new TextDecoder('utf-8', { fatal: true }).decode(text);
} catch (e) {
  fail(`${file}: not valid UTF-8`);
}
try {
  data = JSON.parse(text);
} catch (e) {
  // One line: JSON.parse's message may hold a newline.
  fail(`${file}: not JSON: ${e.message.replace(/\s+/g, ' ')}`);
}

// The schema is draft-07, ajv's default; strict mode would reject nothing
// of it but is off so that a future schema's unknown keywords do not read
// as an error in our file. allErrors: list every problem at once.
const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);
const errors = [];
if (!validate(data))
  for (const e of validate.errors)
    errors.push(`${e.instancePath || '/'}: ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);

// What the schema cannot say but speedscope's importer needs: equal
// lengths of samples and weights, frame indices in range, weights >= 0.
if (data && Array.isArray(data.profiles) && data.shared && Array.isArray(data.shared.frames)) {
  const nframes = data.shared.frames.length;
  if (data.profiles.length === 0)
    errors.push('/profiles: empty (speedscope refuses a file without profiles)');
  data.profiles.forEach((p, i) => {
    if (p.type !== 'sampled' || !Array.isArray(p.samples) || !Array.isArray(p.weights))
      return;
    if (p.samples.length !== p.weights.length)
      errors.push(`/profiles/${i}: ${p.samples.length} samples but ${p.weights.length} weights`);
    p.samples.forEach((s, k) => {
      if (Array.isArray(s) && s.some((f) => !Number.isInteger(f) || f < 0 || f >= nframes))
        errors.push(`/profiles/${i}/samples/${k}: a frame index out of range`);
    });
    if (p.weights.some((w) => typeof w !== 'number' || w < 0))
      errors.push(`/profiles/${i}/weights: a negative weight`);
  });
  if (data.activeProfileIndex !== undefined &&
      (!Number.isInteger(data.activeProfileIndex) || data.activeProfileIndex < 0 ||
       data.activeProfileIndex >= data.profiles.length))
    errors.push('/activeProfileIndex: no such profile');
}

if (errors.length)
  fail(errors.map((e) => `${file}: ${e}`).join('\n'));
console.log('speedscope schema ok');
