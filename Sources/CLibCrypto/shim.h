// OpenSSL's libcrypto, for SHA-256 only (TracCore/FileDigest.swift): the EVP digest API, which
// OpenSSL 3 keeps (the SHA256_* functions are deprecated).
#include <openssl/evp.h>
