#!/usr/bin/env node
'use strict';

const { count } = require('../lib/wordcount');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const { words, lines, characters } = count(input);
  process.stdout.write(`${lines} ${words} ${characters}\n`);
});
