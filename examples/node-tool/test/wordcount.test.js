'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const { words, count } = require('../lib/wordcount');

test('splits words on spaces and punctuation', () => {
  assert.deepEqual(words("Hello, world! It's here."), ['Hello', 'world', "It's", 'here']);
});

test('counts an empty text as nothing', () => {
  assert.deepEqual(count(''), { words: 0, lines: 0, characters: 0 });
});

test('counts lines with and without a final newline', () => {
  assert.equal(count('a\nb\n').lines, 2);
  assert.equal(count('a\nb').lines, 2);
});

test('counts characters as code points', () => {
  assert.equal(count('café 🙂').characters, 6);
});

test.describe('input checks', () => {
  test.it('refuses what is not a string', () => {
    assert.throws(() => count(42), TypeError);
  });

  test.it('counts accented words as one word each', () => {
    assert.equal(count('déjà vu, naïve').words, 3);
  });
});
