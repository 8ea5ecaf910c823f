/* earshot serial microphone protocol: packet encoder. See earshot_encoder.h and PROTOCOL.md. */
#include "earshot_encoder.h"

uint32_t es_crc32(uint32_t crc, const uint8_t *data, size_t len) {
  /* Bitwise rather than table-driven: 1 KB of flash saved, and at 16 kHz s16 (32 kB/s) the
   * cost is well under 1% of a Cortex-M0+ at 125 MHz. */
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= data[i];
    for (int k = 0; k < 8; k++) crc = (crc & 1u) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
  }
  return ~crc;
}

/* A COBS writer straight into the output buffer: bytes go in one at a time and the code byte
 * of the current block is back-patched, so no scratch copy of the packet is needed. */
typedef struct {
  uint8_t *out;
  size_t code_at;  /* index of the current block's code byte */
  size_t write;    /* next free index */
  uint8_t code;    /* 1 + bytes in the current block */
  int closed_full; /* the last byte closed a full 254-byte block */
  uint32_t crc;    /* CRC-32 of the unencoded bytes so far */
} cobs_writer;

static void cobs_begin(cobs_writer *w, uint8_t *out) {
  w->out = out;
  w->out[0] = 0x00; /* leading delimiter: ends any garbage the receiver holds */
  w->code_at = 1;
  w->write = 2;
  w->code = 1;
  w->closed_full = 0;
  w->crc = 0;
}

static void cobs_put(cobs_writer *w, uint8_t byte) {
  w->closed_full = 0;
  if (byte != 0) {
    w->out[w->write++] = byte;
    w->code++;
  }
  if (byte == 0 || w->code == 0xFF) {
    w->out[w->code_at] = w->code;
    w->closed_full = byte != 0;
    w->code = 1;
    w->code_at = w->write++;
  }
}

/* Feeds a byte of the packet body: into the CRC and the COBS stream. */
static void put(cobs_writer *w, uint8_t byte) {
  w->crc = es_crc32(w->crc, &byte, 1);
  cobs_put(w, byte);
}

static void put_u16(cobs_writer *w, uint16_t v) {
  put(w, (uint8_t)(v & 0xFFu));
  put(w, (uint8_t)(v >> 8));
}

static void put_u32(cobs_writer *w, uint32_t v) {
  for (int i = 0; i < 4; i++) put(w, (uint8_t)((v >> (8 * i)) & 0xFFu));
}

/* Appends the CRC (little-endian, not itself CRC'd), closes the COBS stream and adds the
 * trailing delimiter. Returns the wire length. */
static size_t cobs_finish(cobs_writer *w) {
  uint32_t crc = w->crc;
  for (int i = 0; i < 4; i++) cobs_put(w, (uint8_t)((crc >> (8 * i)) & 0xFFu));
  size_t end;
  if (w->closed_full) {
    /* A full block ended exactly at the end of the packet: the reserved code byte is unused. */
    end = w->code_at;
  } else {
    w->out[w->code_at] = w->code;
    end = w->write;
  }
  w->out[end] = 0x00;
  return end + 1;
}

static void put_header(cobs_writer *w, uint8_t type, uint32_t sequence) {
  put(w, ES_MAGIC0);
  put(w, ES_MAGIC1);
  put(w, ES_VERSION);
  put(w, type);
  put_u32(w, sequence);
}

size_t es_encode_audio(es_encoder *enc, uint32_t sample_rate, uint8_t format, uint8_t channels,
                       const uint8_t *payload, size_t payload_len, uint8_t *out, size_t out_cap) {
  size_t width;
  switch (format) {
    case ES_FORMAT_S16LE: width = 2; break;
    case ES_FORMAT_S24LE32:
    case ES_FORMAT_F32LE: width = 4; break;
    default: return 0;
  }
  if (enc == NULL || payload == NULL || out == NULL || channels < 1 || channels > ES_MAX_CHANNELS) return 0;
  size_t frame_bytes = width * channels;
  if (payload_len == 0 || payload_len % frame_bytes != 0) return 0;
  size_t frames = payload_len / frame_bytes;
  if (frames > ES_MAX_FRAMES || out_cap < ES_WIRE_MAX(payload_len)) return 0;

  cobs_writer w;
  cobs_begin(&w, out);
  put_header(&w, ES_TYPE_AUDIO, enc->sequence);
  put_u32(&w, sample_rate);
  put(&w, format);
  put(&w, channels);
  put_u16(&w, (uint16_t)frames);
  for (size_t i = 0; i < payload_len; i++) put(&w, payload[i]);
  enc->sequence++;
  return cobs_finish(&w);
}

size_t es_encode_status(const es_encoder *enc, uint16_t flags, uint32_t dropped_frames, int16_t gain_centi_db,
                        uint8_t *out, size_t out_cap) {
  if (enc == NULL || out == NULL || out_cap < ES_WIRE_MAX(0)) return 0;
  cobs_writer w;
  cobs_begin(&w, out);
  put_header(&w, ES_TYPE_STATUS, enc->sequence - 1u);
  put_u16(&w, flags);
  put_u32(&w, dropped_frames);
  put_u16(&w, (uint16_t)gain_centi_db);
  return cobs_finish(&w);
}
