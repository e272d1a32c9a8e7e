/**
 * A header block that breaks HPACK's rules: the connection must end with COMPRESSION_ERROR (RFC 7540 §4.3).
 * Defined here rather than in hpack.ts (which re-exports it) so that the two modules do not import each other.
 */
export class HpackError extends Error {
  override readonly name = 'HpackError';
}

/**
 * Length in bits of the Huffman code of each symbol: octets 0..255, then EOS (256), read off the `len`
 * column of RFC 7541 Appendix B. Lengths are all the table needs: the code is canonical (within a length,
 * codes rise with the symbol; a longer code starts where the shorter ones end), so the codes follow from them.
 */
// biome-ignore format: sixteen symbols a row, so a length is found by its row and column
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, // 0x00
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, // 0x10
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //         0x20 ' ' .. '/'
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //              0x30 '0' .. '?'
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //                0x40 '@' .. 'O'
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //             0x50 'P' .. '_'
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //                0x60 '`' .. 'o'
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //            0x70 'p' .. 0x7f
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, // 0x80
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, // 0x90
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, // 0xa0
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, // 0xb0
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, // 0xc0
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, // 0xd0
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, // 0xe0
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, // 0xf0
  30, //                                                             EOS
];

const EOS = 256;
const MAX_LENGTH = 30;

/** Codes of every symbol, assigned canonically from `CODE_LENGTHS` (shortest first, ties by symbol). */
function canonicalCodes(): Uint32Array {
  const codes = new Uint32Array(CODE_LENGTHS.length);
  let code = 0;
  for (let length = 1; length <= MAX_LENGTH; length++) {
    for (let symbol = 0; symbol < CODE_LENGTHS.length; symbol++) {
      if (CODE_LENGTHS[symbol] === length) codes[symbol] = code++;
    }
    code <<= 1;
  }
  return codes;
}

/**
 * The code as a binary tree: internal node `n` has its children at `2n` (bit 0) and `2n + 1` (bit 1); a child
 * is another internal node's number (> 0, the root being 0), or `~symbol` (< 0) for a leaf. The code is
 * complete (every bit string is a prefix of some code), so 257 leaves make exactly 256 internal nodes.
 */
function codeTree(codes: Uint32Array): Int32Array {
  const children = new Int32Array(2 * EOS);
  let nodes = 1;
  for (let symbol = 0; symbol <= EOS; symbol++) {
    const length = CODE_LENGTHS[symbol]!;
    let node = 0;
    for (let shift = length - 1; shift > 0; shift--) {
      const slot = 2 * node + ((codes[symbol]! >>> shift) & 1);
      if (children[slot] === 0) children[slot] = nodes++;
      node = children[slot]!;
    }
    children[2 * node + (codes[symbol]! & 1)] = ~symbol;
  }
  return children;
}

// Fields of a transition table entry.
const NEXT_STATE = 0xff;
const SYMBOL_SHIFT = 8;
const EMITS = 1 << 16;
/** The state reached is a valid end of string: at most 7 bits into a code, all of them ones (§5.2). */
const ACCEPTS = 1 << 17;
/** The nibble completed EOS, which a string must never contain (§5.2). */
const FAILS = 1 << 18;

/**
 * Decoding walks the tree four bits at a time: a state is an internal node (the bits read since the last
 * symbol), and entry `state * 16 + nibble` gives the state after those four bits and the symbol completed on
 * the way, if any. No code is shorter than 5 bits, so a nibble completes at most one symbol; with 256 states
 * the table is 4096 entries, built once, and a string costs two look-ups per octet.
 */
function transitions(children: Int32Array): Uint32Array {
  const accepting = new Uint8Array(EOS);
  accepting[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = children[2 * node + 1]!;
    accepting[node] = 1;
  }
  const table = new Uint32Array(EOS * 16);
  for (let state = 0; state < EOS; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let shift = 3; shift >= 0; shift--) {
        const child = children[2 * node + ((nibble >> shift) & 1)]!;
        if (child >= 0) {
          node = child;
        } else {
          entry |= ~child === EOS ? FAILS : EMITS | (~child << SYMBOL_SHIFT);
          node = 0;
        }
      }
      table[state * 16 + nibble] = entry | node | (accepting[node] === 1 ? ACCEPTS : 0);
    }
  }
  return table;
}

const TRANSITIONS = transitions(codeTree(canonicalCodes()));

/**
 * Output space reused by every call (decoding is synchronous and the result is copied out into a string), so
 * that a short string costs no allocation; longer ones, rare in practice, get their own.
 */
const SCRATCH = Buffer.allocUnsafe(4096);

/**
 * Decodes a Huffman-coded HPACK string (RFC 7541 §5.2) into a latin1 string of the decoded octets.
 * Throws HpackError when the string contains EOS or ends in padding that is 8 bits or longer or not all ones.
 */
export function huffmanDecode(bytes: Buffer): string {
  const nibbles = bytes.length * 2;
  // The shortest code is 5 bits, so the output has fewer octets than twice the input.
  const out = nibbles <= SCRATCH.length ? SCRATCH : Buffer.allocUnsafe(nibbles);
  let length = 0;
  let entry = ACCEPTS;
  for (let at = 0; at < nibbles; at++) {
    const octet = bytes[at >> 1]!;
    const nibble = (at & 1) === 0 ? octet >> 4 : octet & 0xf;
    entry = TRANSITIONS[((entry & NEXT_STATE) << 4) | nibble]!;
    if ((entry & EMITS) !== 0) out[length++] = (entry >> SYMBOL_SHIFT) & 0xff;
    else if ((entry & FAILS) !== 0) throw new HpackError('Huffman-coded string contains EOS');
  }
  if ((entry & ACCEPTS) === 0) throw new HpackError('Huffman-coded string ends in invalid padding');
  return out.toString('latin1', 0, length);
}
