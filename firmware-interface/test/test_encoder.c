/*
 * Host unit test of the C encoder: checks es_crc32 against the CRC-32/ISO-HDLC check value,
 * encodes every vector in vectors/vectors.txt and compares the wire frame with vectors/NAME.bin
 * byte for byte, and checks argument validation. Prints TAP; exit status 0 when all pass.
 *   cc -std=c99 -Wall -Wextra -Werror -pedantic -I.. ../earshot_encoder.c test_encoder.c -o t && ./t ../vectors
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "earshot_encoder.h"

static int failures = 0;
static int count = 0;

static void check(int ok, const char *what) {
  count++;
  if (!ok) failures++;
  printf("%sok %d - %s\n", ok ? "" : "not ", count, what);
}

static size_t read_file(const char *path, uint8_t *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static uint8_t payload[1024 * 8 * 4];
static uint8_t wire[ES_WIRE_MAX(sizeof payload)];
static uint8_t expected[sizeof wire];
static char line[2 * sizeof payload + 256];

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "vectors";
  const uint8_t check_input[] = "123456789";
  check(es_crc32(0, check_input, 9) == 0xCBF43926u, "es_crc32(\"123456789\") = 0xCBF43926");
  check(es_crc32(es_crc32(0, check_input, 4), check_input + 4, 5) == 0xCBF43926u, "es_crc32 continues across blocks");

  char path[1024];
  snprintf(path, sizeof path, "%s/vectors.txt", dir);
  FILE *index = fopen(path, "r");
  if (!index) {
    printf("Bail out! cannot open %s\n", path);
    return 2;
  }
  int vectors = 0;
  while (fgets(line, sizeof line, index)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    char name[128], type[16];
    unsigned long sequence;
    int used = 0;
    if (sscanf(line, "%127s %15s %lu%n", name, type, &sequence, &used) != 3) continue;
    size_t n = 0;
    es_encoder enc;
    if (strcmp(type, "audio") == 0) {
      unsigned long rate;
      unsigned format, channels;
      int more = 0;
      sscanf(line + used, "%lu %u %u %n", &rate, &format, &channels, &more);
      const char *hex = line + used + more;
      size_t len = 0;
      while (hex_value(hex[0]) >= 0 && hex_value(hex[1]) >= 0 && len < sizeof payload) {
        payload[len++] = (uint8_t)(hex_value(hex[0]) * 16 + hex_value(hex[1]));
        hex += 2;
      }
      enc.sequence = (uint32_t)sequence;
      n = es_encode_audio(&enc, (uint32_t)rate, (uint8_t)format, (uint8_t)channels, payload, len, wire, sizeof wire);
      check(enc.sequence == (uint32_t)(sequence + 1u), "audio packet advances the sequence number");
    } else {
      unsigned flags;
      unsigned long dropped;
      int gain;
      sscanf(line + used, "%u %lu %d", &flags, &dropped, &gain);
      enc.sequence = (uint32_t)sequence + 1u;
      n = es_encode_status(&enc, (uint16_t)flags, (uint32_t)dropped, (int16_t)gain, wire, sizeof wire);
    }
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    size_t m = read_file(path, expected, sizeof expected);
    char what[512];
    snprintf(what, sizeof what, "%s: %zu bytes, identical to %s.bin (%zu bytes)", name, n, name, m);
    check(n > 0 && n == m && memcmp(wire, expected, n) == 0, what);
    vectors++;
  }
  fclose(index);
  check(vectors >= 10, "all vectors read");

  es_encoder enc = {0};
  uint8_t small[ES_WIRE_MAX(4)];
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 3, wire, sizeof wire) == 0, "odd payload for s16 is refused");
  check(es_encode_audio(&enc, 16000, 9, 1, payload, 4, wire, sizeof wire) == 0, "unknown format is refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 0, payload, 4, wire, sizeof wire) == 0, "zero channels are refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 2 * 1025, wire, sizeof wire) == 0, "more than 1024 frames is refused");
  check(es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 4, small, sizeof small - 1) == 0, "a too-small output buffer is refused");
  check(enc.sequence == 0, "refused packets do not advance the sequence number");
  size_t n = es_encode_audio(&enc, 16000, ES_FORMAT_S16LE, 1, payload, 4, small, sizeof small);
  int zeros = 0;
  for (size_t i = 1; i + 1 < n; i++) zeros += small[i] == 0;
  check(n > 0 && small[0] == 0 && small[n - 1] == 0 && zeros == 0, "a wire frame is 0x00, COBS body without 0x00, 0x00");

  printf("1..%d\n", count);
  return failures == 0 ? 0 : 1;
}
