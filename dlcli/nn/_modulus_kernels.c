/* CPU kernels for the modulus activation |x| (dlcli.nn.activations.Modulus).
 *
 * Forward writes y = |x| (the sign bit cleared) and packs one "x < 0" bit per element,
 * eight per byte; backward flips the sign of the incoming gradient where that bit is
 * set (dy/dx = -1 for x < 0, +1 for x >= 0 and for -0.0, so f'(0) = +1 as the method
 * asks). The saved state is 1 bit per element: 1/32 of what torch.abs keeps for fp32,
 * 1/16 for bf16/fp16.
 *
 * The 16- and 32-bit kernels have AVX2 paths (movemask packs the sign bits, a compare
 * against per-lane bit constants unpacks them); every width also has a portable scalar
 * loop. dlcli/nn/kernels.py compiles this file on the machine that runs it with
 * -O3 -march=native -fopenmp; torch's own OpenMP runtime (same soname) runs the threads.
 */
#include <stdint.h>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define PARALLEL_THRESHOLD 16384
#define OMP_FOR _Pragma("omp parallel for schedule(static) num_threads(threads) if (n > PARALLEL_THRESHOLD)")

/* ---------------------------------------------------------------- portable loops */
#define SCALAR_FORWARD(T, SHIFT, MAGNITUDE, FIRST_BLOCK)                                        \
    for (int64_t b = (FIRST_BLOCK); b < (n + 7) / 8; ++b) {                                     \
        uint8_t bits = 0;                                                                       \
        const int64_t end = (8 * b + 8 < n) ? 8 * b + 8 : n;                                    \
        for (int64_t i = 8 * b; i < end; ++i) {                                                 \
            const T v = x[i];                                                                   \
            const T m = v & (MAGNITUDE);                                                        \
            y[i] = m;                                                                           \
            bits |= (uint8_t)((((v >> (SHIFT)) & 1u) & (m != 0)) << (i - 8 * b));               \
        }                                                                                       \
        negative[b] = bits;                                                                     \
    }

#define SCALAR_BACKWARD(T, SHIFT, FIRST_BLOCK)                                                  \
    for (int64_t b = (FIRST_BLOCK); b < (n + 7) / 8; ++b) {                                     \
        const uint8_t bits = negative[b];                                                       \
        const int64_t end = (8 * b + 8 < n) ? 8 * b + 8 : n;                                    \
        for (int64_t i = 8 * b; i < end; ++i)                                                   \
            out[i] = grad[i] ^ ((T)((bits >> (i - 8 * b)) & 1u) << (SHIFT));                    \
    }

/* ---------------------------------------------------------------- 32-bit (fp32) */
void modulus_forward_32(const uint32_t *x, uint32_t *y, uint8_t *negative, int64_t n, int threads) {
    int64_t done = 0;
#if defined(__AVX2__)
    const int64_t blocks = n / 8;
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 zero = _mm256_setzero_ps();
    OMP_FOR
    for (int64_t b = 0; b < blocks; ++b) {
        const __m256 v = _mm256_loadu_ps((const float *)(x + 8 * b));
        _mm256_storeu_ps((float *)(y + 8 * b), _mm256_and_ps(v, magnitude));
        negative[b] = (uint8_t)_mm256_movemask_ps(_mm256_cmp_ps(v, zero, _CMP_LT_OQ));
    }
    done = blocks;
#else
    const int64_t blocks = n / 8;
    OMP_FOR
    for (int64_t b = 0; b < blocks; ++b) {
        uint8_t bits = 0;
        for (int k = 0; k < 8; ++k) {
            const uint32_t v = x[8 * b + k], m = v & 0x7fffffffu;
            y[8 * b + k] = m;
            bits |= (uint8_t)((((v >> 31) & 1u) & (m != 0)) << k);
        }
        negative[b] = bits;
    }
    done = blocks;
#endif
    SCALAR_FORWARD(uint32_t, 31, 0x7fffffffu, done)
}

void modulus_backward_32(const uint32_t *grad, const uint8_t *negative, uint32_t *out, int64_t n, int threads) {
    int64_t done = 0;
#if defined(__AVX2__)
    const int64_t blocks = n / 8;
    const __m256i lane_bits = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i sign = _mm256_set1_epi32((int)0x80000000u);
    OMP_FOR
    for (int64_t b = 0; b < blocks; ++b) {
        const __m256i bits = _mm256_set1_epi32(negative[b]);
        const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(bits, lane_bits), lane_bits);
        const __m256i g = _mm256_loadu_si256((const __m256i *)(grad + 8 * b));
        _mm256_storeu_si256((__m256i *)(out + 8 * b), _mm256_xor_si256(g, _mm256_and_si256(set, sign)));
    }
    done = blocks;
#else
    const int64_t blocks = n / 8;
    OMP_FOR
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t bits = negative[b];
        for (int k = 0; k < 8; ++k) out[8 * b + k] = grad[8 * b + k] ^ ((uint32_t)((bits >> k) & 1u) << 31);
    }
    done = blocks;
#endif
    SCALAR_BACKWARD(uint32_t, 31, done)
}

/* ---------------------------------------------------------------- 16-bit (bf16, fp16) */
void modulus_forward_16(const uint16_t *x, uint16_t *y, uint8_t *negative, int64_t n, int threads) {
    int64_t done = 0;
#if defined(__AVX2__)
    const int64_t pairs = n / 16; /* 16 elements -> 2 mask bytes */
    const __m256i magnitude = _mm256_set1_epi16(0x7fff);
    const __m256i zero = _mm256_setzero_si256();
    OMP_FOR
    for (int64_t p = 0; p < pairs; ++p) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(x + 16 * p));
        const __m256i m = _mm256_and_si256(v, magnitude);
        _mm256_storeu_si256((__m256i *)(y + 16 * p), m);
        /* negative: sign bit set and magnitude non-zero (-0.0 counts as positive) */
        const __m256i neg = _mm256_andnot_si256(_mm256_cmpeq_epi16(m, zero), _mm256_srai_epi16(v, 15));
        const __m128i packed = _mm_packs_epi16(_mm256_castsi256_si128(neg), _mm256_extracti128_si256(neg, 1));
        const int bits = _mm_movemask_epi8(packed);
        negative[2 * p] = (uint8_t)(bits & 0xff);
        negative[2 * p + 1] = (uint8_t)(bits >> 8);
    }
    done = 2 * pairs;
#endif
    SCALAR_FORWARD(uint16_t, 15, (uint16_t)0x7fffu, done)
}

void modulus_backward_16(const uint16_t *grad, const uint8_t *negative, uint16_t *out, int64_t n, int threads) {
    int64_t done = 0;
#if defined(__AVX2__)
    const int64_t pairs = n / 16;
    const __m256i lane_bits = _mm256_setr_epi16(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192,
                                                16384, (short)0x8000);
    const __m256i sign = _mm256_set1_epi16((short)0x8000);
    OMP_FOR
    for (int64_t p = 0; p < pairs; ++p) {
        const int word = negative[2 * p] | (negative[2 * p + 1] << 8);
        const __m256i bits = _mm256_set1_epi16((short)word);
        const __m256i set = _mm256_cmpeq_epi16(_mm256_and_si256(bits, lane_bits), lane_bits);
        const __m256i g = _mm256_loadu_si256((const __m256i *)(grad + 16 * p));
        _mm256_storeu_si256((__m256i *)(out + 16 * p), _mm256_xor_si256(g, _mm256_and_si256(set, sign)));
    }
    done = 2 * pairs;
#endif
    SCALAR_BACKWARD(uint16_t, 15, done)
}

/* ---------------------------------------------------------------- 64-bit (fp64: gradcheck) */
void modulus_forward_64(const uint64_t *x, uint64_t *y, uint8_t *negative, int64_t n, int threads) {
    (void)threads;
    SCALAR_FORWARD(uint64_t, 63, 0x7fffffffffffffffull, 0)
}

void modulus_backward_64(const uint64_t *grad, const uint8_t *negative, uint64_t *out, int64_t n, int threads) {
    (void)threads;
    SCALAR_BACKWARD(uint64_t, 63, 0)
}
