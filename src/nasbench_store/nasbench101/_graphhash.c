/* nasbench's graph hash (graph_util.hash_module) in C: the conversion checks 423,624 cells and
 * verify re-checks them, and in Python each costs ~57 md5 calls plus the string juggling.
 * Byte-for-byte the same strings as the Python version are hashed; tests compare the two.
 * MD5 follows RFC 1321.
 *
 * Speed (a 7-vertex cell: 7 start hashes, 7 rounds of 7 messages of 2-4 blocks, one final
 * message of 5 blocks). The messages of one round are independent, so they are hashed together,
 * one per 32-bit lane of a 256-bit vector (AVX2, or AVX-512VL's rotate and ternary-logic ops where
 * the CPU has them; chosen at import, unrolled scalar MD5 elsewhere); a lane whose message has
 * fewer blocks keeps its state while the others go on. Digests stay binary (sorted as big-endian
 * integers, which is the order of their hex text) and each is turned into hex once per round; the
 * start hashes of common (degrees, label) triples are computed once per process (under the GIL).
 * Every path gives the same digests: tests/test_nb101_graph.py runs each one against Python. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAXV 32
/* the longest message: every vertex a predecessor and a successor (self-loops included), '|' twice,
 * the vertex's own hash. A lane's room: that message and the 65 bytes md5_pad writes after it
 * (0x80 and a 64-byte memset), in whole 64-byte blocks */
#define MSG_MAX ((2 * MAXV + 1) * 32 + 2)
#define STRIDE (((MSG_MAX + 65 + 63) / 64) * 64)
#define LANES 8

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

/* ---- MD5 (RFC 1321), one message at a time, unrolled --------------------------------------------- */

static uint32_t load32le(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

#define ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))
#define F1(x, y, z) ((z) ^ ((x) & ((y) ^ (z))))
#define F2(x, y, z) ((y) ^ ((z) & ((x) ^ (y))))
#define F3(x, y, z) ((x) ^ (y) ^ (z))
#define F4(x, y, z) ((y) ^ ((x) | ~(z)))
#define STEP(f, a, b, c, d, m, k, s) (a) = (b) + ROTL((a) + f((b), (c), (d)) + (m) + (k), s)

/* The 64 steps, parametrised by the step macro S(f, a, b, c, d, word index, constant, shift). */
#define MD5_ROUNDS(S)                                                                                        \
    S(F1, a, b, c, d, 0, 0xd76aa478, 7); S(F1, d, a, b, c, 1, 0xe8c7b756, 12);                               \
    S(F1, c, d, a, b, 2, 0x242070db, 17); S(F1, b, c, d, a, 3, 0xc1bdceee, 22);                              \
    S(F1, a, b, c, d, 4, 0xf57c0faf, 7); S(F1, d, a, b, c, 5, 0x4787c62a, 12);                               \
    S(F1, c, d, a, b, 6, 0xa8304613, 17); S(F1, b, c, d, a, 7, 0xfd469501, 22);                              \
    S(F1, a, b, c, d, 8, 0x698098d8, 7); S(F1, d, a, b, c, 9, 0x8b44f7af, 12);                               \
    S(F1, c, d, a, b, 10, 0xffff5bb1, 17); S(F1, b, c, d, a, 11, 0x895cd7be, 22);                            \
    S(F1, a, b, c, d, 12, 0x6b901122, 7); S(F1, d, a, b, c, 13, 0xfd987193, 12);                             \
    S(F1, c, d, a, b, 14, 0xa679438e, 17); S(F1, b, c, d, a, 15, 0x49b40821, 22);                            \
    S(F2, a, b, c, d, 1, 0xf61e2562, 5); S(F2, d, a, b, c, 6, 0xc040b340, 9);                                \
    S(F2, c, d, a, b, 11, 0x265e5a51, 14); S(F2, b, c, d, a, 0, 0xe9b6c7aa, 20);                             \
    S(F2, a, b, c, d, 5, 0xd62f105d, 5); S(F2, d, a, b, c, 10, 0x02441453, 9);                               \
    S(F2, c, d, a, b, 15, 0xd8a1e681, 14); S(F2, b, c, d, a, 4, 0xe7d3fbc8, 20);                             \
    S(F2, a, b, c, d, 9, 0x21e1cde6, 5); S(F2, d, a, b, c, 14, 0xc33707d6, 9);                               \
    S(F2, c, d, a, b, 3, 0xf4d50d87, 14); S(F2, b, c, d, a, 8, 0x455a14ed, 20);                              \
    S(F2, a, b, c, d, 13, 0xa9e3e905, 5); S(F2, d, a, b, c, 2, 0xfcefa3f8, 9);                               \
    S(F2, c, d, a, b, 7, 0x676f02d9, 14); S(F2, b, c, d, a, 12, 0x8d2a4c8a, 20);                             \
    S(F3, a, b, c, d, 5, 0xfffa3942, 4); S(F3, d, a, b, c, 8, 0x8771f681, 11);                               \
    S(F3, c, d, a, b, 11, 0x6d9d6122, 16); S(F3, b, c, d, a, 14, 0xfde5380c, 23);                            \
    S(F3, a, b, c, d, 1, 0xa4beea44, 4); S(F3, d, a, b, c, 4, 0x4bdecfa9, 11);                               \
    S(F3, c, d, a, b, 7, 0xf6bb4b60, 16); S(F3, b, c, d, a, 10, 0xbebfbc70, 23);                             \
    S(F3, a, b, c, d, 13, 0x289b7ec6, 4); S(F3, d, a, b, c, 0, 0xeaa127fa, 11);                              \
    S(F3, c, d, a, b, 3, 0xd4ef3085, 16); S(F3, b, c, d, a, 6, 0x04881d05, 23);                              \
    S(F3, a, b, c, d, 9, 0xd9d4d039, 4); S(F3, d, a, b, c, 12, 0xe6db99e5, 11);                              \
    S(F3, c, d, a, b, 15, 0x1fa27cf8, 16); S(F3, b, c, d, a, 2, 0xc4ac5665, 23);                             \
    S(F4, a, b, c, d, 0, 0xf4292244, 6); S(F4, d, a, b, c, 7, 0x432aff97, 10);                               \
    S(F4, c, d, a, b, 14, 0xab9423a7, 15); S(F4, b, c, d, a, 5, 0xfc93a039, 21);                             \
    S(F4, a, b, c, d, 12, 0x655b59c3, 6); S(F4, d, a, b, c, 3, 0x8f0ccc92, 10);                              \
    S(F4, c, d, a, b, 10, 0xffeff47d, 15); S(F4, b, c, d, a, 1, 0x85845dd1, 21);                             \
    S(F4, a, b, c, d, 8, 0x6fa87e4f, 6); S(F4, d, a, b, c, 15, 0xfe2ce6e0, 10);                              \
    S(F4, c, d, a, b, 6, 0xa3014314, 15); S(F4, b, c, d, a, 13, 0x4e0811a1, 21);                             \
    S(F4, a, b, c, d, 4, 0xf7537e82, 6); S(F4, d, a, b, c, 11, 0xbd3af235, 10);                              \
    S(F4, c, d, a, b, 2, 0x2ad7d2bb, 15); S(F4, b, c, d, a, 9, 0xeb86d391, 21)

static void md5_block(uint32_t st[4], const unsigned char *p) {
    uint32_t m[16], a = st[0], b = st[1], c = st[2], d = st[3];
    for (int i = 0; i < 16; i++) m[i] = load32le(p + 4 * i);
#define SCALAR_STEP(f, a, b, c, d, i, k, s) STEP(f, a, b, c, d, m[i], (uint32_t)(k), s)
    MD5_ROUNDS(SCALAR_STEP);
#undef SCALAR_STEP
    st[0] += a; st[1] += b; st[2] += c; st[3] += d;
}

static const uint32_t MD5_INIT[4] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};

/* MD5 padding in place after `len` message bytes (the buffer has 65 bytes of room after them);
 * returns the block count */
static int md5_pad(unsigned char *msg, size_t len) {
    size_t total = (len + 9 + 63) / 64 * 64;
    msg[len] = 0x80;
    memset(msg + len + 1, 0, 64);  /* covers the zeros (at most 63 bytes); the buffer has room for 65 */
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) msg[total - 8 + k] = (unsigned char)(bits >> (8 * k));
    return (int)(total / 64);
}

/* the digest's 16 bytes, in MD5's output order */
static void md5_digest(const uint32_t st[4], unsigned char out[16]) {
    for (int k = 0; k < 16; k++) out[k] = (unsigned char)(st[k / 4] >> (8 * (k % 4)));
}

/* md5 of a padded message of `blocks` blocks */
static void md5_padded(const unsigned char *msg, int blocks, unsigned char out[16]) {
    uint32_t st[4] = {MD5_INIT[0], MD5_INIT[1], MD5_INIT[2], MD5_INIT[3]};
    for (int b = 0; b < blocks; b++) md5_block(st, msg + 64 * b);
    md5_digest(st, out);
}

/* ---- MD5 of up to 8 padded messages at once (AVX2: one 32-bit lane per message) ------------------ */

#ifdef HAVE_AVX2_PATH
/* One step on 8 lanes; a + (m + k) does not wait for the previous step, only F and what follows does. */
#define VSTEP(f, a, b, c, d, i, k, s)                                                                        \
    do {                                                                                                     \
        __m256i t_ = _mm256_add_epi32(V##f(b, c, d), _mm256_add_epi32(a, _mm256_add_epi32(m[i], _mm256_set1_epi32((int)(k))))); \
        a = _mm256_add_epi32(b, VROTL(t_, s));                                                               \
    } while (0)

/* Lane l hashes the padded message at msgs + l * STRIDE (blocks[l] >= 1 blocks; lanes past `count`
 * repeat lane 0 and are ignored). Reads only whole blocks of each lane's own message. */
#define DEFINE_MD5_LANES(name, isa)                                                                          \
    __attribute__((target(isa))) static void name(const unsigned char *msgs, const int *blocks, int count,   \
                                                  unsigned char out[][16]) {                                 \
        int nb[LANES], base_i[LANES], most = 0;                                                              \
        for (int l = 0; l < LANES; l++) {                                                                    \
            nb[l] = l < count ? blocks[l] : blocks[0];                                                       \
            base_i[l] = l < count ? l * (STRIDE / 4) : 0; /* in 4-byte words from msgs */                    \
            if (nb[l] > most) most = nb[l];                                                                  \
        }                                                                                                    \
        const __m256i ones = _mm256_set1_epi32(-1);                                                          \
        (void)ones;                                                                                          \
        const __m256i nblocks = _mm256_loadu_si256((const __m256i *)nb);                                     \
        const __m256i last = _mm256_sub_epi32(nblocks, _mm256_set1_epi32(1));                                \
        const __m256i base = _mm256_loadu_si256((const __m256i *)base_i);                                    \
        __m256i a = _mm256_set1_epi32((int)MD5_INIT[0]), b = _mm256_set1_epi32((int)MD5_INIT[1]);            \
        __m256i c = _mm256_set1_epi32((int)MD5_INIT[2]), d = _mm256_set1_epi32((int)MD5_INIT[3]);            \
        for (int blk = 0; blk < most; blk++) {                                                               \
            /* a lane whose message is shorter re-reads its last block; its state is kept below */           \
            __m256i which = _mm256_min_epi32(_mm256_set1_epi32(blk), last);                                  \
            __m256i at = _mm256_add_epi32(base, _mm256_slli_epi32(which, 4));                                \
            __m256i m[16];                                                                                   \
            for (int i = 0; i < 16; i++)                                                                     \
                m[i] = _mm256_i32gather_epi32((const int *)msgs, _mm256_add_epi32(at, _mm256_set1_epi32(i)), 4); \
            __m256i a0 = a, b0 = b, c0 = c, d0 = d;                                                          \
            MD5_ROUNDS(VSTEP);                                                                               \
            __m256i live = _mm256_cmpgt_epi32(nblocks, _mm256_set1_epi32(blk));                              \
            a = _mm256_blendv_epi8(a0, _mm256_add_epi32(a, a0), live);                                       \
            b = _mm256_blendv_epi8(b0, _mm256_add_epi32(b, b0), live);                                       \
            c = _mm256_blendv_epi8(c0, _mm256_add_epi32(c, c0), live);                                       \
            d = _mm256_blendv_epi8(d0, _mm256_add_epi32(d, d0), live);                                       \
        }                                                                                                    \
        uint32_t w[4][LANES];                                                                                \
        _mm256_storeu_si256((__m256i *)w[0], a);                                                             \
        _mm256_storeu_si256((__m256i *)w[1], b);                                                             \
        _mm256_storeu_si256((__m256i *)w[2], c);                                                             \
        _mm256_storeu_si256((__m256i *)w[3], d);                                                             \
        for (int l = 0; l < count; l++) {                                                                    \
            uint32_t st[4] = {w[0][l], w[1][l], w[2][l], w[3][l]};                                           \
            md5_digest(st, out[l]);                                                                          \
        }                                                                                                    \
    }

/* AVX2: rotations as two shifts and an or */
#define VROTL(x, s) _mm256_or_si256(_mm256_slli_epi32(x, s), _mm256_srli_epi32(x, 32 - (s)))
#define VF1(x, y, z) _mm256_xor_si256(z, _mm256_and_si256(x, _mm256_xor_si256(y, z)))
#define VF2(x, y, z) _mm256_xor_si256(y, _mm256_and_si256(z, _mm256_xor_si256(x, y)))
#define VF3(x, y, z) _mm256_xor_si256(x, _mm256_xor_si256(y, z))
#define VF4(x, y, z) _mm256_xor_si256(y, _mm256_or_si256(x, _mm256_xor_si256(z, ones)))
DEFINE_MD5_LANES(md5_lanes_avx2, "avx2")
#undef VROTL
#undef VF1
#undef VF2
#undef VF3
#undef VF4
/* AVX-512VL on 256-bit vectors: one rotate instruction, each round function one ternary-logic op */
#define VROTL(x, s) _mm256_rol_epi32(x, s)
#define VF1(x, y, z) _mm256_ternarylogic_epi32(x, y, z, 0xCA)
#define VF2(x, y, z) _mm256_ternarylogic_epi32(x, y, z, 0xE4)
#define VF3(x, y, z) _mm256_ternarylogic_epi32(x, y, z, 0x96)
#define VF4(x, y, z) _mm256_ternarylogic_epi32(x, y, z, 0x39)
DEFINE_MD5_LANES(md5_lanes_avx512, "avx2,avx512f,avx512vl")
#endif

static void md5_lanes_scalar(const unsigned char *msgs, const int *blocks, int count, unsigned char out[][16]) {
    for (int l = 0; l < count; l++) md5_padded(msgs + (size_t)l * STRIDE, blocks[l], out[l]);
}

typedef void (*md5_lanes_fn)(const unsigned char *, const int *, int, unsigned char[][16]);
static md5_lanes_fn md5_lanes_best = md5_lanes_scalar;

#if defined(__GNUC__) || defined(__clang__)
#define POPCOUNT(x) __builtin_popcount(x)
#define CTZ(x) __builtin_ctz(x)
#else
static int POPCOUNT(uint32_t x) { int k = 0; for (; x; x &= x - 1) k++; return k; }
static int CTZ(uint32_t x) { int k = 0; while (!(x >> k & 1)) k++; return k; }  /* x != 0 */
#endif

/* ---- the graph hash ------------------------------------------------------------------------------ */

static uint16_t HEX2[256];  /* a byte's two lowercase hex digits, in memory order */

static void hex_init(void) {
    static const char hex[] = "0123456789abcdef";
    for (int b = 0; b < 256; b++) {
        unsigned char two[2] = {(unsigned char)hex[b >> 4], (unsigned char)hex[b & 15]};
        memcpy(&HEX2[b], two, 2);
    }
}

static void to_hex(const unsigned char d[16], char out[32]) {
    for (int k = 0; k < 16; k++) memcpy(out + 2 * k, &HEX2[d[k]], 2);
}

/* Start hashes md5(str((out_degree, in_degree, label))) of the common cases, computed once each. */
#define START_DEG 8
static unsigned char start_cache[START_DEG][START_DEG][5][16];
static unsigned char start_known[START_DEG][START_DEG][5];

static void start_hash(int out_deg, int in_deg, long label, unsigned char out[16]) {
    int cached = out_deg < START_DEG && in_deg < START_DEG && label >= -2 && label <= 2;
    if (cached && start_known[out_deg][in_deg][label + 2]) {
        memcpy(out, start_cache[out_deg][in_deg][label + 2], 16);
        return;
    }
    unsigned char msg[128];
    int len = snprintf((char *)msg, 64, "(%d, %d, %ld)", out_deg, in_deg, label);
    md5_padded(msg, md5_pad(msg, (size_t)len), out);
    if (cached) {
        memcpy(start_cache[out_deg][in_deg][label + 2], out, 16);
        start_known[out_deg][in_deg][label + 2] = 1;
    }
}

static uint64_t load64be(const unsigned char *p) {
    uint64_t v = 0;
    for (int k = 0; k < 8; k++) v = v << 8 | p[k];
    return v;
}

/* vertices in ascending order of digest (= of hex text; equal digests in vertex order):
 * rank[v] = how many vertices come before v, order[rank[v]] = v. Counting, without branches. */
static void order_by_digest(unsigned char dig[][16], int n, int order[], int rank[]) {
    uint64_t hi[MAXV], lo[MAXV];
    for (int v = 0; v < n; v++) hi[v] = load64be(dig[v]), lo[v] = load64be(dig[v] + 8);
    for (int v = 0; v < n; v++) {
        int r = 0;
        for (int u = 0; u < n; u++)
            r += (hi[u] < hi[v]) | ((hi[u] == hi[v]) & ((lo[u] < lo[v]) | ((lo[u] == lo[v]) & (u < v))));
        rank[v] = r;
        order[r] = v;
    }
}

/* the hex hashes of the vertices in `mask`, in ascending order, appended at msg + len */
static size_t append_sorted(unsigned char *msg, size_t len, uint32_t mask, char hex[][32], const int order[],
                            const int rank[]) {
    uint32_t ranks = 0;  /* the same set, as ranks */
    for (; mask; mask &= mask - 1) ranks |= (uint32_t)1 << rank[CTZ(mask)];
    for (; ranks; ranks &= ranks - 1) {
        memcpy(msg + len, hex[order[CTZ(ranks)]], 32);
        len += 32;
    }
    return len;
}

/* The hash of a cell: n vertices, preds[v]/succs[v] bit masks, labels; 32 hex characters to out. */
static void graph_hash(int n, const uint32_t *preds, const uint32_t *succs, const long *lab, md5_lanes_fn md5_lanes,
                       char out[32]) {
    unsigned char dig[MAXV][16], next[MAXV][16];
    char hex[MAXV][32];
    int order[MAXV], rank[MAXV], blocks[LANES];
    unsigned char msgs[LANES * STRIDE];
    for (int v = 0; v < n; v++)
        start_hash(POPCOUNT(succs[v]), POPCOUNT(preds[v]), lab[v], dig[v]);
    for (int it = 0; it < n; it++) {  /* nasbench iterates exactly V times */
        for (int v = 0; v < n; v++) to_hex(dig[v], hex[v]);
        order_by_digest(dig, n, order, rank);
        for (int first = 0; first < n; first += LANES) {
            int count = n - first < LANES ? n - first : LANES;
            for (int l = 0; l < count; l++) {
                int v = first + l;
                unsigned char *msg = msgs + (size_t)l * STRIDE;
                size_t len = 0;
                /* sorted predecessors' hashes, '|', sorted successors', '|', own */
                len = append_sorted(msg, len, preds[v], hex, order, rank);
                msg[len++] = '|';
                len = append_sorted(msg, len, succs[v], hex, order, rank);
                msg[len++] = '|';
                memcpy(msg + len, hex[v], 32);
                blocks[l] = md5_pad(msg, len + 32);
            }
            md5_lanes(msgs, blocks, count, next + first);
        }
        memcpy(dig, next, (size_t)n * 16);
    }
    order_by_digest(dig, n, order, rank);
    /* str(sorted(hashes)): "['h1', 'h2', ...]" */
    unsigned char *repr = msgs;
    size_t len = 0;
    repr[len++] = '[';
    for (int i = 0; i < n; i++) {
        if (i) { repr[len++] = ','; repr[len++] = ' '; }
        repr[len++] = '\'';
        to_hex(dig[order[i]], (char *)repr + len);
        len += 32;
        repr[len++] = '\'';
    }
    repr[len++] = ']';
    unsigned char final[16];
    md5_padded(repr, md5_pad(repr, len), final);
    to_hex(final, out);
}

static PyObject *hash_cell_impl(PyObject *args, md5_lanes_fn md5_lanes) {
    const char *adj; Py_ssize_t adj_len; PyObject *labels_obj;
    if (!PyArg_ParseTuple(args, "s#O", &adj, &adj_len, &labels_obj)) return NULL;
    PyObject *labels = PySequence_Fast(labels_obj, "labels must be a sequence of ints");
    if (!labels) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(labels);
    if (n < 1 || n > MAXV || n * n != adj_len) {
        Py_DECREF(labels);
        PyErr_Format(PyExc_ValueError, "adjacency of length %zd does not match %zd labels (at most %d)", adj_len, n, MAXV);
        return NULL;
    }
    long lab[MAXV];
    for (Py_ssize_t v = 0; v < n; v++) {
        lab[v] = PyLong_AsLong(PySequence_Fast_GET_ITEM(labels, v));
        if (lab[v] == -1 && PyErr_Occurred()) { Py_DECREF(labels); return NULL; }
    }
    Py_DECREF(labels);
    uint32_t preds[MAXV] = {0}, succs[MAXV] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            char bit = adj[i * n + j];
            if (bit != '0' && bit != '1') { PyErr_SetString(PyExc_ValueError, "adjacency must be '0'/'1' characters"); return NULL; }
            if (bit == '1') { succs[i] |= (uint32_t)1 << j; preds[j] |= (uint32_t)1 << i; }
        }
    PyObject *result = PyUnicode_New(32, 127);
    if (!result) return NULL;
    graph_hash((int)n, preds, succs, lab, md5_lanes, (char *)PyUnicode_DATA(result));
    return result;
}

static PyObject *hash_cell(PyObject *self, PyObject *args) { return hash_cell_impl(args, md5_lanes_best); }

/* hash_cell_with(adjacency, labels, md5): the same hash through one named MD5 path, for tests */
static PyObject *hash_cell_with(PyObject *self, PyObject *args) {
    PyObject *adjacency, *labels;
    const char *name;
    if (!PyArg_ParseTuple(args, "OOs", &adjacency, &labels, &name)) return NULL;
    md5_lanes_fn fn = NULL;
    if (strcmp(name, "scalar") == 0) fn = md5_lanes_scalar;
#ifdef HAVE_AVX2_PATH
    if (strcmp(name, "avx2") == 0 && __builtin_cpu_supports("avx2")) fn = md5_lanes_avx2;
    if (strcmp(name, "avx512") == 0 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl"))
        fn = md5_lanes_avx512;
#endif
    if (!fn) return PyErr_Format(PyExc_ValueError, "MD5 path %s is not available on this CPU", name);
    PyObject *inner = PyTuple_Pack(2, adjacency, labels);
    if (!inner) return NULL;
    PyObject *result = hash_cell_impl(inner, fn);
    Py_DECREF(inner);
    return result;
}

/* ---- graph._pruned_cell_fast in C: a query's validation of the common cell -------------------------
 * The Python function stays the fallback and the tests' oracle; this one gives the same result for
 * every input, including which exceptions escape: only what an op's own __hash__/__eq__ raises
 * besides KeyError and TypeError (those mean "not the common case": None). */

static PyObject *op_keys[MAXV], *input_keys[MAXV]; /* "op1".., "input1"..: interned once */

static PyObject *not_common_or_error(void) {
    if (PyErr_Occurred()) {
        if (!PyErr_ExceptionMatches(PyExc_KeyError) && !PyErr_ExceptionMatches(PyExc_TypeError)) return NULL;
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

static PyObject *pruned_cell(PyObject *self, PyObject *args) {
    PyObject *arch, *op_labels;
    int max_vertices, max_edges;
    if (!PyArg_ParseTuple(args, "OO!ii", &arch, &PyDict_Type, &op_labels, &max_vertices, &max_edges)) return NULL;
    if (max_vertices < 2 || max_vertices > MAXV)
        return PyErr_Format(PyExc_ValueError, "max_vertices must be in 2..%d", MAXV);
    if (!PyDict_CheckExact(arch)) Py_RETURN_NONE;
    Py_ssize_t size = PyDict_GET_SIZE(arch); /* V-2 ops and V-1 inputs */
    if (size < 1 || size % 2 == 0 || (size + 3) / 2 > max_vertices) Py_RETURN_NONE;
    int n = (int)(size + 3) / 2;
    long labels[MAXV];
    labels[0] = -1, labels[n - 1] = -2;
    for (int i = 1; i < n - 1; i++) {
        PyObject *op = PyDict_GetItemWithError(arch, op_keys[i]);
        if (!op) return not_common_or_error();
        Py_INCREF(op); /* its __hash__ may run Python code that changes the dict */
        PyObject *label = PyDict_GetItemWithError(op_labels, op);
        Py_DECREF(op);
        if (!label) return not_common_or_error();
        labels[i] = PyLong_AsLong(label);
        if (labels[i] == -1 && PyErr_Occurred()) return NULL;
    }
    uint32_t succs[MAXV] = {0};
    for (int i = 1; i < n; i++) {
        PyObject *inputs = PyDict_GetItemWithError(arch, input_keys[i]);
        if (!inputs) return not_common_or_error();
        if (!PyList_CheckExact(inputs) && !PyTuple_CheckExact(inputs)) Py_RETURN_NONE;
        Py_ssize_t count = PySequence_Fast_GET_SIZE(inputs);
        PyObject **items = PySequence_Fast_ITEMS(inputs);
        for (Py_ssize_t j = 0; j < count; j++) {
            if (!PyLong_CheckExact(items[j])) Py_RETURN_NONE; /* bool is not int here either */
            int overflow;
            long k = PyLong_AsLongAndOverflow(items[j], &overflow);
            if (overflow || k < 0 || k >= i) Py_RETURN_NONE;
            succs[k] |= (uint32_t)1 << i;
        }
    }
    uint32_t forward = 1, backward = (uint32_t)1 << (n - 1), everything = (uint32_t)((1ull << n) - 1);
    int edges = 0;
    for (int v = 0; v < n; v++) {
        if (forward >> v & 1) forward |= succs[v];
        edges += __builtin_popcount(succs[v]);
    }
    for (int v = n - 2; v >= 0; v--)
        if (succs[v] & backward) backward |= (uint32_t)1 << v;
    if ((forward & backward) != everything || edges > max_edges) Py_RETURN_NONE;
    PyObject *adjacency = PyUnicode_New(n * n, 127);
    PyObject *label_tuple = PyTuple_New(n);
    if (!adjacency || !label_tuple) {
        Py_XDECREF(adjacency);
        Py_XDECREF(label_tuple);
        return NULL;
    }
    Py_UCS1 *bits = PyUnicode_1BYTE_DATA(adjacency);
    for (int v = 0; v < n; v++)
        for (int j = 0; j < n; j++) bits[v * n + j] = (succs[v] >> j & 1) ? '1' : '0';
    for (int v = 0; v < n; v++) {
        PyObject *label = PyLong_FromLong(labels[v]);
        if (!label) {
            Py_DECREF(adjacency);
            Py_DECREF(label_tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(label_tuple, v, label);
    }
    return Py_BuildValue("(NNO)", adjacency, label_tuple, Py_True);
}

static PyMethodDef methods[] = {
    {"hash_cell", hash_cell, METH_VARARGS,
     "hash_cell(adjacency, labels) -> nasbench graph hash of a row-major '0'/'1' matrix and int labels"},
    {"hash_cell_with", hash_cell_with, METH_VARARGS,
     "hash_cell_with(adjacency, labels, md5) -> hash_cell through the MD5 path 'scalar' (one message at a\n"
     "time), 'avx2' or 'avx512' (8 messages at once); ValueError if the CPU lacks it. For tests."},
    {"pruned_cell", pruned_cell, METH_VARARGS,
     "pruned_cell(arch, op_labels, max_vertices, max_edges) -> graph._pruned_cell_fast(arch) in C: (adjacency,\n"
     "labels, True) for a well-formed cell in the space that needs no pruning, None for anything else"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_graphhash", NULL, -1, methods};

PyMODINIT_FUNC PyInit__graphhash(void) {
    hex_init();
    for (int i = 1; i < MAXV; i++) {
        if (!op_keys[i] && !(op_keys[i] = PyUnicode_FromFormat("op%d", i))) return NULL;
        if (!input_keys[i] && !(input_keys[i] = PyUnicode_FromFormat("input%d", i))) return NULL;
        PyUnicode_InternInPlace(&op_keys[i]);
        PyUnicode_InternInPlace(&input_keys[i]);
    }
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    const char *md5 = "scalar";
    if (__builtin_cpu_supports("avx2")) md5_lanes_best = md5_lanes_avx2, md5 = "avx2";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
        md5_lanes_best = md5_lanes_avx512, md5 = "avx512";
#else
    const char *md5 = "scalar";
#endif
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddStringConstant(m, "MD5", md5) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
