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

size_t es_encode_resend_request(uint32_t first, uint16_t count, uint8_t *out, size_t out_cap) {
  if (out == NULL || count < 1 || count > ES_MAX_RESEND_COUNT || out_cap < ES_WIRE_MAX(0)) return 0;
  cobs_writer w;
  cobs_begin(&w, out);
  put_header(&w, ES_TYPE_RESEND_REQUEST, first);
  put_u16(&w, count);
  for (int i = 0; i < 6; i++) put(&w, 0); /* reserved */
  return cobs_finish(&w);
}

/* Decodes one COBS frame (the bytes between two delimiters, none of them 0x00) into `out`.
 * Returns the packet length, or 0 when the frame is not valid COBS (a code byte pointing past
 * its end) or would not fit in `out_cap`: both mean "not one of ours", so one answer does. */
static size_t cobs_decode(const uint8_t *frame, size_t len, uint8_t *out, size_t out_cap) {
  size_t read = 0, write = 0;
  while (read < len) {
    uint8_t code = frame[read];
    if (code == 0 || code > len - read) return 0;
    read++;
    for (uint8_t i = 1; i < code; i++) {
      if (write == out_cap) return 0;
      out[write++] = frame[read++];
    }
    /* A block shorter than 254 stands for its bytes and a zero, except at the end of the frame. */
    if (code != 0xFF && read < len) {
      if (write == out_cap) return 0;
      out[write++] = 0;
    }
  }
  return write;
}

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int es_rx_push(es_rx *rx, uint8_t byte, uint32_t *first, uint16_t *count) {
  if (rx == NULL) return 0;
  if (byte != 0) {
    if (rx->discarding) return 0;
    if (rx->length >= sizeof rx->frame) {
      /* Longer than any request: an audio packet echoed back, or noise. Drop it all up to the next
       * delimiter rather than parse its tail as a frame. */
      rx->discarding = 1;
      rx->length = 0;
      return 0;
    }
    rx->frame[rx->length++] = byte;
    return 0;
  }
  size_t len = rx->length;
  int was_discarding = rx->discarding;
  rx->length = 0;
  rx->discarding = 0;
  if (was_discarding || len == 0) return 0; /* the end of a dropped run, or an empty frame */

  uint8_t p[ES_PACKET_BYTES(0)];
  if (cobs_decode(rx->frame, len, p, sizeof p) != sizeof p) return 0;
  if (p[0] != ES_MAGIC0 || p[1] != ES_MAGIC1 || p[2] != ES_VERSION || p[3] != ES_TYPE_RESEND_REQUEST) return 0;
  if (get_u32(p + 16) != es_crc32(0, p, 16)) return 0;
  uint16_t n = (uint16_t)(p[8] | p[9] << 8);
  if (n < 1 || n > ES_MAX_RESEND_COUNT) return 0;
  /* Bytes 10..15 are reserved: ignored, so a later host may use them without breaking devices. */
  if (first != NULL) *first = get_u32(p + 4);
  if (count != NULL) *count = n;
  return 1;
}
