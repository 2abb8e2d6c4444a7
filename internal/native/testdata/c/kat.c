/* kat.c: a C program calling truce_crypto through truce_crypto.h, with
 * published vectors (FIPS 180-2, RFC 8439 2.8.2, RFC 8032 test 2). It
 * prints "ok" lines and exits with the number of the first failed check. */
#include <stdio.h>
#include <string.h>
#include "../../include/truce_crypto.h"

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static size_t unhex(const char *s, uint8_t *out) {
	size_t n = strlen(s) / 2;
	for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
	return n;
}

static int check(int step, int ok, const char *what) {
	if (!ok) {
		printf("FAIL %s\n", what);
		return step;
	}
	printf("ok %s\n", what);
	return 0;
}

#define CHECK(step, cond, what) do { int r_ = check(step, cond, what); if (r_) return r_; } while (0)

static uint8_t key[32], nonce[12], aad[16], pt[128], ct[160], want[160], back[128], seed[32], pub[32], sig[64], wsig[64];

int main(void) {
	uint8_t d[32], w[32];
	unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", w);
	CHECK(1, truce_sha256((const uint8_t *)"abc", 3, d) == TRUCE_OK && memcmp(d, w, 32) == 0, "FIPS 180-2 SHA-256 abc");

	size_t kl = unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f", key);
	size_t nl = unhex("070000004041424344454647", nonce);
	size_t al = unhex("50515253c0c1c2c3c4c5c6c7", aad);
	const char *ladies = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
	size_t pl = strlen(ladies);
	memcpy(pt, ladies, pl);
	size_t cl = unhex("d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b61161ae10b594f09e26a7e902ecbd0600691", want);
	CHECK(2, truce_chacha20poly1305_seal(key, kl, nonce, nl, aad, al, pt, pl, ct) == TRUCE_OK && cl == pl + 16 && memcmp(ct, want, cl) == 0, "RFC 8439 2.8.2 seal");
	CHECK(3, truce_chacha20poly1305_open(key, kl, nonce, nl, aad, al, ct, cl, back) == TRUCE_OK && memcmp(back, pt, pl) == 0, "RFC 8439 2.8.2 open");
	ct[0] ^= 1;
	CHECK(4, truce_chacha20poly1305_open(key, kl, nonce, nl, aad, al, ct, cl, back) == TRUCE_EBADMSG, "changed ciphertext refused");
	CHECK(5, truce_chacha20poly1305_seal(key, kl, nonce, nl, aad, al, pt, pl, pt + 1) == TRUCE_EINVAL, "overlapping output refused");
	CHECK(6, truce_sha256((const uint8_t *)0xfffffff0u, 64, d) == TRUCE_EFAULT, "input outside memory refused");

	unhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", seed);
	unhex("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00", wsig);
	uint8_t msg[1] = {0x72};
	CHECK(7, truce_ed25519_sign(seed, 32, msg, 1, sig) == TRUCE_OK && memcmp(sig, wsig, 64) == 0, "RFC 8032 test 2 sign");
	CHECK(8, truce_ed25519_public_key(seed, 32, pub) == TRUCE_OK && truce_ed25519_verify(pub, 32, msg, 1, sig, 64) == TRUCE_OK, "RFC 8032 test 2 verify");
	printf("all passed\n");
	return 0;
}
