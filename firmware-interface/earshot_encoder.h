/*
 * earshot serial microphone protocol: packet encoder for firmware (see PROTOCOL.md).
 *
 * Portable C99, no dynamic allocation, no global state, no dependencies beyond <stddef.h> and
 * <stdint.h>. The caller owns every buffer: an encoder writes one complete wire frame
 * (0x00, COBS(packet), 0x00) into `out` and returns its length, ready for a UART/USB-CDC write.
 *
 * Typical use (one DMA block of PCM at a time):
 *
 *   static es_encoder enc;                 // zero-initialised: sequence starts at 0
 *   static uint8_t wire[ES_WIRE_MAX(256 * 2)];
 *   size_t n = es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, pcm_bytes, 256 * 2, wire, sizeof wire);
 *   if (n) uart_write(wire, n);
 *
 * Receiving resend requests (optional, PROTOCOL.md "Resending lost packets"), one RX byte at a time:
 *
 *   static es_rx rx;                       // zero-initialised
 *   uint32_t first; uint16_t count;
 *   if (es_rx_push(&rx, byte, &first, &count)) resend(first, count);
 */
#ifndef EARSHOT_ENCODER_H
#define EARSHOT_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ES_MAGIC0 0xE5u
#define ES_MAGIC1 0xA7u
#define ES_VERSION 1u
#define ES_TYPE_AUDIO 1u
#define ES_TYPE_STATUS 2u
#define ES_TYPE_RESEND_REQUEST 3u /* host -> device */

#define ES_FORMAT_S16LE 1u   /* 2 bytes per sample */
#define ES_FORMAT_S24LE32 2u /* 24-bit signed in the low 3 bytes of a 4-byte little-endian word */
#define ES_FORMAT_F32LE 3u   /* IEEE-754 float, -1..1 */

#define ES_STATUS_CLIPPING 0x0001u
#define ES_STATUS_OVERFLOW 0x0002u
#define ES_STATUS_END_OF_STREAM 0x0004u

#define ES_HEADER_BYTES 16u
#define ES_CRC_BYTES 4u
#define ES_MAX_FRAMES 1024u
#define ES_MAX_CHANNELS 8u
#define ES_MAX_RESEND_COUNT 64u /* most packets one resend request asks for */

/* Bytes of a packet with `payload` bytes of samples, before COBS. */
#define ES_PACKET_BYTES(payload) (ES_HEADER_BYTES + (payload) + ES_CRC_BYTES)
/* Worst-case wire frame for `payload` bytes: COBS adds 1 byte per 254 plus 1, and two delimiters. */
#define ES_WIRE_MAX(payload) (ES_PACKET_BYTES(payload) + ES_PACKET_BYTES(payload) / 254u + 1u + 2u)

/* Encoder state: the next audio sequence number. Zero-initialise it. */
typedef struct {
  uint32_t sequence;
} es_encoder;

/* CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF), as zlib's
 * crc32(). Pass crc = 0 for the first block; feed the previous result to continue. */
uint32_t es_crc32(uint32_t crc, const uint8_t *data, size_t len);

/* Encodes one audio packet with the encoder's next sequence number (then increments it).
 * `payload` holds frames x channels interleaved samples in `format`, `payload_len` bytes.
 * Returns the wire length written to `out`, or 0 (nothing written, sequence unchanged) when the
 * arguments are invalid or `out_cap` < ES_WIRE_MAX(payload_len). */
size_t es_encode_audio(es_encoder *enc, uint32_t sample_rate, uint8_t format, uint8_t channels,
                       const uint8_t *payload, size_t payload_len, uint8_t *out, size_t out_cap);

/* Encodes one status packet carrying the sequence number of the last audio packet sent
 * (enc->sequence - 1). `dropped_frames`: frames lost to an MCU buffer overflow since the last
 * status packet; `gain_centi_db`: current gain in 1/100 dB. Returns the wire length, or 0 when
 * `out_cap` < ES_WIRE_MAX(0). */
size_t es_encode_status(const es_encoder *enc, uint16_t flags, uint32_t dropped_frames, int16_t gain_centi_db,
                        uint8_t *out, size_t out_cap);

/* Encodes one resend request (host -> device) for `count` audio packets from sequence number
 * `first` on (mod 2^32). For host-side tools and test vectors: firmware only receives these.
 * Returns the wire length (23 bytes), or 0 when `count` is not 1..ES_MAX_RESEND_COUNT or
 * `out_cap` < ES_WIRE_MAX(0). */
size_t es_encode_resend_request(uint32_t first, uint16_t count, uint8_t *out, size_t out_cap);

/* A resend request is 20 bytes, 21 after COBS (which adds exactly 1 byte below 254): a longer
 * run between delimiters cannot be one, so the receiver holds no more than that. */
#define ES_RX_FRAME_BYTES (ES_PACKET_BYTES(0) + 1u)

/* Receive-side state of es_rx_push(): the frame being collected. Zero-initialise it; one per RX
 * line. 23 bytes, no pointers, so it may live in a static or on the stack. */
typedef struct {
  uint8_t frame[ES_RX_FRAME_BYTES];
  uint8_t length;     /* bytes of `frame` in use */
  uint8_t discarding; /* the current run is too long: skip to the next 0x00 */
} es_rx;

/* Feeds one byte read from the host (the RX interrupt or a polling loop). Returns 1 when `byte`
 * (the closing 0x00) completed a valid resend request, COBS-decoded, 20 bytes, magic, version 1,
 * type 3, CRC good, count 1..ES_MAX_RESEND_COUNT, and then stores its first sequence number in
 * `*first` and its count in `*count` (either may be NULL). Returns 0 otherwise: anything else on
 * the line (other packet types, damaged frames, garbage, overlong runs) is dropped silently.
 * Constant time per byte except the closing 0x00 (one 16-byte CRC); never reads or writes
 * outside `rx` whatever the input. Not reentrant on the same `rx`. */
int es_rx_push(es_rx *rx, uint8_t byte, uint32_t *first, uint16_t *count);

#ifdef __cplusplus
}
#endif
#endif
