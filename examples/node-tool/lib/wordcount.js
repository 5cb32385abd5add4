'use strict';

/** Splits text into words: runs of letters, digits and apostrophes. */
function words(text) {
  return text.match(/[\p{L}\p{N}']+/gu) || [];
}

/** Counts the words, lines and characters (code points) of a text. */
function count(text) {
  if (typeof text !== 'string') {
    throw new TypeError('text must be a string');
  }
  const lines = text === '' ? 0 : text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  return { words: words(text).length, lines, characters: [...text].length };
}

module.exports = { words, count };
