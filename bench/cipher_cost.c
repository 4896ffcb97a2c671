/* What mbedTLS's own AEAD costs for the bytes a RETR relays: CPU seconds per GiB to seal
 * full 16 KiB TLS records (13-byte additional data and 12-byte nonce, as TLS 1.2 and 1.3 build
 * them) with AES-128-GCM and ChaCha20-Poly1305, through the same mbedtls_cipher layer the
 * record code uses. bench/run builds it against the mbedTLS popgate links (the bundled build)
 * and compare.py prints it next to popgate's "CPU s / GiB relayed" from the same run.
 *
 *   cipher_cost [MIB]     seal MIB MiB per cipher (default 256); prints one JSON object
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/cipher.h>

#define RECORD 16384

static double cpu_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds per GiB for `type`, or a negative number if this mbedTLS lacks it. */
static double seal_cost(mbedtls_cipher_type_t type, size_t records) {
  static unsigned char in[RECORD], out[RECORD + 16];
  unsigned char key[32] = {1}, iv[12] = {2}, aad[13] = {3};
  const mbedtls_cipher_info_t* info = mbedtls_cipher_info_from_type(type);
  mbedtls_cipher_context_t ctx;
  double start, used;
  size_t i, olen = 0;
  if (info == NULL) {
    return -1;
  }
  mbedtls_cipher_init(&ctx);
  if (mbedtls_cipher_setup(&ctx, info) != 0 ||
      mbedtls_cipher_setkey(&ctx, key, (int)mbedtls_cipher_info_get_key_bitlen(info),
                            MBEDTLS_ENCRYPT) != 0) {
    mbedtls_cipher_free(&ctx);
    return -1;
  }
  memset(in, 'x', sizeof in);
  start = cpu_seconds();
  for (i = 0; i < records; ++i) {
    iv[11] = (unsigned char)i; /* a fresh nonce per record, as the record layer does */
    if (mbedtls_cipher_auth_encrypt_ext(&ctx, iv, sizeof iv, aad, sizeof aad, in, sizeof in, out,
                                        sizeof out, &olen, 16) != 0) {
      mbedtls_cipher_free(&ctx);
      return -1;
    }
  }
  used = cpu_seconds() - start;
  mbedtls_cipher_free(&ctx);
  return used * (1024.0 * 1024.0 * 1024.0) / ((double)records * RECORD);
}

int main(int argc, char** argv) {
  const long mib = argc > 1 ? atol(argv[1]) : 256;
  const size_t records = (size_t)(mib > 0 ? mib : 256) * 64; /* 64 records per MiB */
  printf("{\"AES-128-GCM\": %.3f, \"CHACHA20-POLY1305\": %.3f}\n",
         seal_cost(MBEDTLS_CIPHER_AES_128_GCM, records),
         seal_cost(MBEDTLS_CIPHER_CHACHA20_POLY1305, records));
  return 0;
}
