/*
 * Standalone reproduction of the mediasoup DTLS BIO callback bug (docs/mediasoup-build.md).
 * Installs mediasoup's callback logic on a memory BIO, as DtlsTransport does, and asks
 * OpenSSL's kTLS question. Build and run:
 *   cc bio_callback_ktls.c -o /tmp/bio_repro -lssl -lcrypto && /tmp/bio_repro
 * Prints what BIO_get_ktls_send() and BIO_pending() answer with the buggy and the fixed test.
 */
#include <openssl/bio.h>
#include <openssl/opensslv.h>
#include <stdio.h>

static long buggy(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                  size_t *processed) {
  (void)b; (void)argp; (void)len; (void)argi; (void)argl; (void)processed;
  return (oper == BIO_CB_RETURN) ? (long)ret : 1; /* mediasoup 3.13.0 .. 3.27.1 */
}

static long fixed(BIO *b, int oper, const char *argp, size_t len, int argi, long argl, int ret,
                  size_t *processed) {
  (void)b; (void)argp; (void)len; (void)argi; (void)argl; (void)processed;
  return ((oper & BIO_CB_RETURN) != 0) ? (long)ret : 1;
}

static int check(const char *name, BIO_callback_fn_ex cb) {
  BIO *bio = BIO_new(BIO_s_mem());
  BIO_set_callback_ex(bio, cb);
  long ktls = BIO_ctrl(bio, BIO_CTRL_GET_KTLS_SEND, 0, NULL);
  long pending = (long)BIO_ctrl_pending(bio);
  printf("%-6s BIO_ctrl(GET_KTLS_SEND) = %ld, BIO_pending(empty BIO) = %ld\n", name, ktls, pending);
  BIO_free(bio);
  return ktls > 0;
}

int main(void) {
  printf("%s, kTLS %s\n", OPENSSL_VERSION_TEXT,
#ifdef OPENSSL_NO_KTLS
         "not compiled in"
#else
         "compiled in"
#endif
  );
  int bug = check("buggy", buggy);
  int fix = check("fixed", fixed);
  printf(bug && !fix ? "reproduced: the buggy callback claims kTLS send is on\n" : "not reproduced\n");
  return bug && !fix ? 0 : 1;
}
