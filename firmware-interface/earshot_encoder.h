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

#ifdef __cplusplus
}
#endif
#endif
