/*
 * Parley: libsrtp 3 API subset (see include/srtp.h) implemented with libsrtp2.
 *
 * libsrtp2 works in place on an int length and assumes it may write the trailer after the
 * packet; libsrtp 3 takes separate input and output buffers with size_t lengths and an
 * output capacity. The shim copies into the output buffer first, checks the capacity, then
 * calls libsrtp2 in place.
 */
#define PARLEY_SRTP3_SHIM_IMPL
#include "srtp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct parley_srtp3_policy {
  srtp_policy_t v2;                     /* libsrtp2's policy struct */
  uint8_t key_and_salt[SRTP_MAX_KEY_LEN]; /* libsrtp2 wants master key || master salt */
};

srtp_err_status_t parley_srtp3_policy_create(parley_srtp3_policy_t *policy) {
  if (policy == NULL) return srtp_err_status_bad_param;
  struct parley_srtp3_policy *p = calloc(1, sizeof(*p));
  if (p == NULL) return srtp_err_status_alloc_fail;
  p->v2.key = p->key_and_salt;
  p->v2.next = NULL;
  *policy = p;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_policy_destroy(parley_srtp3_policy_t policy) {
  if (policy != NULL) {
    memset(policy->key_and_salt, 0, sizeof(policy->key_and_salt));
    free(policy);
  }
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_policy_set_ssrc(parley_srtp3_policy_t policy, srtp_ssrc_t ssrc) {
  if (policy == NULL) return srtp_err_status_bad_param;
  policy->v2.ssrc = ssrc;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_policy_set_profile(parley_srtp3_policy_t policy,
                                                  srtp_profile_t profile) {
  if (policy == NULL) return srtp_err_status_bad_param;
  srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->v2.rtp, profile);
  if (err != srtp_err_status_ok) return err;
  return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->v2.rtcp, profile);
}

srtp_err_status_t parley_srtp3_policy_add_key(parley_srtp3_policy_t policy,
                                              const uint8_t *key, size_t key_len,
                                              const uint8_t *salt, size_t salt_len,
                                              const uint8_t *mki, size_t mki_len) {
  (void)mki;
  if (policy == NULL || key == NULL || salt == NULL) return srtp_err_status_bad_param;
  if (mki_len != 0) return srtp_err_status_bad_param; /* MKI is not supported by the shim */
  if (key_len + salt_len > sizeof(policy->key_and_salt)) return srtp_err_status_bad_param;
  memcpy(policy->key_and_salt, key, key_len);
  memcpy(policy->key_and_salt + key_len, salt, salt_len);
  policy->v2.key = policy->key_and_salt;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_policy_set_allow_repeat_tx(parley_srtp3_policy_t policy,
                                                          bool allow) {
  if (policy == NULL) return srtp_err_status_bad_param;
  policy->v2.allow_repeat_tx = allow ? 1 : 0;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_policy_set_window_size(parley_srtp3_policy_t policy,
                                                      size_t window_size) {
  if (policy == NULL) return srtp_err_status_bad_param;
  if (window_size != 0 && (window_size < 64 || window_size >= 0x8000))
    return srtp_err_status_bad_param;
  policy->v2.window_size = (unsigned long)window_size;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_create(srtp_t *session, const parley_srtp3_policy_t policy) {
  if (session == NULL || policy == NULL) return srtp_err_status_bad_param;
  return srtp_create(session, &policy->v2);
}

srtp_err_status_t parley_srtp3_stream_remove(srtp_t session, uint32_t ssrc) {
  return srtp_remove_stream(session, ssrc);
}

/* Copies `in` into `out` (unless they are the same buffer) and checks that `out` can also
 * take `trailer` more bytes. */
static srtp_err_status_t prepare_in_place(const uint8_t *in, size_t in_len, uint8_t *out,
                                          size_t out_capacity, size_t trailer, int *len) {
  if (in == NULL || out == NULL) return srtp_err_status_bad_param;
  if (in_len > (size_t)INT_MAX - trailer) return srtp_err_status_bad_param;
  if (out_capacity < in_len + trailer) return srtp_err_status_buffer_small;
  if (out != in) memmove(out, in, in_len);
  *len = (int)in_len;
  return srtp_err_status_ok;
}

srtp_err_status_t parley_srtp3_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                       uint8_t *srtp, size_t *srtp_len, size_t mki_index) {
  int len = 0;
  if (srtp_len == NULL) return srtp_err_status_bad_param;
  srtp_err_status_t err =
      prepare_in_place(rtp, rtp_len, srtp, *srtp_len, SRTP_MAX_TRAILER_LEN, &len);
  if (err != srtp_err_status_ok) return err;
  err = srtp_protect_mki(ctx, srtp, &len, 0, (unsigned int)mki_index);
  if (err == srtp_err_status_ok) *srtp_len = (size_t)len;
  return err;
}

srtp_err_status_t parley_srtp3_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                         uint8_t *rtp, size_t *rtp_len) {
  int len = 0;
  if (rtp_len == NULL) return srtp_err_status_bad_param;
  srtp_err_status_t err = prepare_in_place(srtp, srtp_len, rtp, *rtp_len, 0, &len);
  if (err != srtp_err_status_ok) return err;
  err = srtp_unprotect(ctx, rtp, &len);
  if (err == srtp_err_status_ok) *rtp_len = (size_t)len;
  return err;
}

srtp_err_status_t parley_srtp3_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                            uint8_t *srtcp, size_t *srtcp_len,
                                            size_t mki_index) {
  int len = 0;
  if (srtcp_len == NULL) return srtp_err_status_bad_param;
  /* SRTCP adds the E-bit/index word (4 bytes) on top of the tag and MKI. */
  srtp_err_status_t err =
      prepare_in_place(rtcp, rtcp_len, srtcp, *srtcp_len, SRTP_MAX_TRAILER_LEN + 4, &len);
  if (err != srtp_err_status_ok) return err;
  err = srtp_protect_rtcp_mki(ctx, srtcp, &len, 0, (unsigned int)mki_index);
  if (err == srtp_err_status_ok) *srtcp_len = (size_t)len;
  return err;
}

srtp_err_status_t parley_srtp3_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp,
                                              size_t srtcp_len, uint8_t *rtcp,
                                              size_t *rtcp_len) {
  int len = 0;
  if (rtcp_len == NULL) return srtp_err_status_bad_param;
  srtp_err_status_t err = prepare_in_place(srtcp, srtcp_len, rtcp, *rtcp_len, 0, &len);
  if (err != srtp_err_status_ok) return err;
  err = srtp_unprotect_rtcp(ctx, rtcp, &len);
  if (err == srtp_err_status_ok) *rtcp_len = (size_t)len;
  return err;
}
