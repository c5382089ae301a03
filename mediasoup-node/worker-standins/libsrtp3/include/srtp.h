/*
 * Parley: the libsrtp 3 API subset that mediasoup's worker uses, on top of libsrtp2.
 *
 * libsrtp 3 changed a few signatures (size_t lengths, separate in/out buffers, an opaque
 * policy built by setters). Everything else (srtp_t, srtp_err_status_t, srtp_ssrc_t,
 * srtp_profile_t, events, init/shutdown, dealloc) is the same as libsrtp2, so this header
 * includes libsrtp2's and hides only the declarations that differ, then declares the
 * libsrtp 3 ones under their own symbol names (parley_srtp3_*) mapped by macros.
 */
#ifndef PARLEY_SRTP3_SHIM_H
#define PARLEY_SRTP3_SHIM_H

#ifndef PARLEY_SRTP3_SHIM_IMPL
#define srtp_policy_t parley_srtp2_hidden_policy_t
#define srtp_create parley_srtp2_hidden_create
#define srtp_protect parley_srtp2_hidden_protect
#define srtp_unprotect parley_srtp2_hidden_unprotect
#define srtp_protect_rtcp parley_srtp2_hidden_protect_rtcp
#define srtp_unprotect_rtcp parley_srtp2_hidden_unprotect_rtcp
#endif

#include <srtp2/srtp.h>

#ifndef PARLEY_SRTP3_SHIM_IMPL
#undef srtp_policy_t
#undef srtp_create
#undef srtp_protect
#undef srtp_unprotect
#undef srtp_protect_rtcp
#undef srtp_unprotect_rtcp
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes libsrtp 3 added; libsrtp2 stops at srtp_err_status_pkt_idx_adv (27). */
#define srtp_err_status_buffer_small ((srtp_err_status_t)28)
#define srtp_err_status_cryptex_err ((srtp_err_status_t)29)

#ifdef __cplusplus
extern "C" {
#endif

typedef struct parley_srtp3_policy *parley_srtp3_policy_t;

srtp_err_status_t parley_srtp3_policy_create(parley_srtp3_policy_t *policy);
srtp_err_status_t parley_srtp3_policy_destroy(parley_srtp3_policy_t policy);
srtp_err_status_t parley_srtp3_policy_set_ssrc(parley_srtp3_policy_t policy, srtp_ssrc_t ssrc);
srtp_err_status_t parley_srtp3_policy_set_profile(parley_srtp3_policy_t policy,
                                                  srtp_profile_t profile);
srtp_err_status_t parley_srtp3_policy_add_key(parley_srtp3_policy_t policy,
                                              const uint8_t *key, size_t key_len,
                                              const uint8_t *salt, size_t salt_len,
                                              const uint8_t *mki, size_t mki_len);
srtp_err_status_t parley_srtp3_policy_set_allow_repeat_tx(parley_srtp3_policy_t policy,
                                                          bool allow);
srtp_err_status_t parley_srtp3_policy_set_window_size(parley_srtp3_policy_t policy,
                                                      size_t window_size);
srtp_err_status_t parley_srtp3_create(srtp_t *session, const parley_srtp3_policy_t policy);
srtp_err_status_t parley_srtp3_stream_remove(srtp_t session, uint32_t ssrc);
srtp_err_status_t parley_srtp3_protect(srtp_t ctx, const uint8_t *rtp, size_t rtp_len,
                                       uint8_t *srtp, size_t *srtp_len, size_t mki_index);
srtp_err_status_t parley_srtp3_unprotect(srtp_t ctx, const uint8_t *srtp, size_t srtp_len,
                                         uint8_t *rtp, size_t *rtp_len);
srtp_err_status_t parley_srtp3_protect_rtcp(srtp_t ctx, const uint8_t *rtcp, size_t rtcp_len,
                                            uint8_t *srtcp, size_t *srtcp_len,
                                            size_t mki_index);
srtp_err_status_t parley_srtp3_unprotect_rtcp(srtp_t ctx, const uint8_t *srtcp,
                                              size_t srtcp_len, uint8_t *rtcp,
                                              size_t *rtcp_len);

#ifdef __cplusplus
}
#endif

#ifndef PARLEY_SRTP3_SHIM_IMPL
#define srtp_policy_t parley_srtp3_policy_t
#define srtp_policy_create parley_srtp3_policy_create
#define srtp_policy_destroy parley_srtp3_policy_destroy
#define srtp_policy_set_ssrc parley_srtp3_policy_set_ssrc
#define srtp_policy_set_profile parley_srtp3_policy_set_profile
#define srtp_policy_add_key parley_srtp3_policy_add_key
#define srtp_policy_set_allow_repeat_tx parley_srtp3_policy_set_allow_repeat_tx
#define srtp_policy_set_window_size parley_srtp3_policy_set_window_size
#define srtp_create parley_srtp3_create
#define srtp_stream_remove parley_srtp3_stream_remove
#define srtp_protect parley_srtp3_protect
#define srtp_unprotect parley_srtp3_unprotect
#define srtp_protect_rtcp parley_srtp3_protect_rtcp
#define srtp_unprotect_rtcp parley_srtp3_unprotect_rtcp
#endif

#endif /* PARLEY_SRTP3_SHIM_H */
