// SPDX-License-Identifier: Apache-2.0
// Keys, signatures, payloads and trust policies: no registry needed (the
// registry round trip is in tests/integration/trust_test.cc).
#include "rtimage/signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <gtest/gtest.h>

#include "common/file_util.h"
#include "rtimage/trust_policy.h"

namespace syspgo::rtimage {
namespace {

// A fresh key pair as PEM: (private, public). type: "ED25519", "EC"
// (P-256) or "RSA".
std::pair<std::string, std::string> NewKeyPem(const char* type) {
  EVP_PKEY* pkey =
      std::string_view(type) == "EC"    ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
      : std::string_view(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})
                                        : EVP_PKEY_Q_keygen(nullptr, nullptr, type);
  EXPECT_NE(pkey, nullptr);
  auto pem = [&](bool priv) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv) {
      PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PUBKEY(bio, pkey);
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<size_t>(n));
    BIO_free(bio);
    return out;
  };
  auto out = std::make_pair(pem(true), pem(false));
  EVP_PKEY_free(pkey);
  return out;
}

TEST(SignatureTest, SignAndVerifyWithEd25519AndP256) {
  for (const char* type : {"ED25519", "EC"}) {
    auto [priv, pub] = NewKeyPem(type);
    auto key = SigningKey::Parse(priv, "test.key");
    ASSERT_TRUE(key.ok()) << type << ": " << key.status().ToString();
    auto trusted = PublicKey::Parse(pub, "test.pub");
    ASSERT_TRUE(trusted.ok()) << trusted.status().ToString();
    EXPECT_EQ(key->id(), trusted->id()) << "one id for both halves";
    EXPECT_EQ(key->public_pem(), pub);
    auto sig = key->Sign("payload");
    ASSERT_TRUE(sig.ok());
    EXPECT_TRUE(trusted->Verify("payload", *sig)) << type;
    EXPECT_FALSE(trusted->Verify("payloaD", *sig)) << type;
    std::string bad = *sig;
    bad[bad.size() / 2] ^= 1;
    EXPECT_FALSE(trusted->Verify("payload", bad)) << type;
    EXPECT_FALSE(trusted->Verify("payload", "")) << type;
    auto other = PublicKey::Parse(NewKeyPem(type).second, "other.pub");
    ASSERT_TRUE(other.ok());
    EXPECT_FALSE(other->Verify("payload", *sig)) << "another key";
    EXPECT_NE(other->id(), trusted->id());
  }
}

TEST(SignatureTest, RefusesOtherKeys) {
  auto [rsa_priv, rsa_pub] = NewKeyPem("RSA");
  EXPECT_EQ(SigningKey::Parse(rsa_priv, "rsa").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKey::Parse(rsa_pub, "rsa").status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(SigningKey::Parse("not a key", "x").ok());
  EXPECT_FALSE(PublicKey::Parse("", "x").ok());
  auto [priv, pub] = NewKeyPem("ED25519");
  EXPECT_FALSE(SigningKey::Parse(pub, "a public key").ok());
  // An encrypted key is refused, not prompted for.
  EVP_PKEY* pkey = nullptr;
  {
    BIO* bio = BIO_new_mem_buf(priv.data(), static_cast<int>(priv.size()));
    pkey = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
  }
  ASSERT_NE(pkey, nullptr);
  BIO* out = BIO_new(BIO_s_mem());
  char pass[] = "secret";
  PEM_write_bio_PKCS8PrivateKey(out, pkey, EVP_aes_256_cbc(), pass, 6, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(out, &data);
  std::string encrypted(data, static_cast<size_t>(n));
  BIO_free(out);
  EVP_PKEY_free(pkey);
  EXPECT_EQ(SigningKey::Parse(encrypted, "encrypted").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SignatureTest, PayloadRoundTripAndRefusals) {
  SignaturePayload p;
  p.docker_reference = "127.0.0.1:5000/app";
  p.manifest = oci::Digest::Of("artifact");
  p.optional[std::string(kClaimMetadata)] = oci::Digest::Of("metadata").ToString();
  const std::string json = EncodeSignaturePayload(p);
  auto back = ParseSignaturePayload(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->docker_reference, p.docker_reference);
  EXPECT_EQ(back->manifest, p.manifest);
  EXPECT_EQ(back->optional, p.optional);
  // cosign's own shape (null optional, extra fields) is read too.
  auto cosign = ParseSignaturePayload(
      R"({"critical":{"identity":{"docker-reference":"r/a"},"image":{"docker-manifest-digest":")" +
      p.manifest.ToString() + R"("},"type":"cosign container image signature"},"optional":null})");
  ASSERT_TRUE(cosign.ok()) << cosign.status().ToString();
  EXPECT_TRUE(cosign->optional.empty());
  for (
      const std::string& bad :
      {std::string("[]"), std::string("{}"), std::string("{\"critical\":{}}"),
       std::string(R"({"critical":{"type":"x","image":{"docker-manifest-digest":"sha256:)") +
           std::string(64, 'a') + "\"}}}",
       std::string(R"({"critical":{"type":"cosign container image signature","image":{}}})"),
       std::string(
           R"({"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"md5:1"}}})")}) {
    EXPECT_EQ(ParseSignaturePayload(bad).status().code(), StatusCode::kCorruption) << bad;
  }
  EXPECT_EQ(SignatureTag(p.manifest), "sha256-" + p.manifest.hex + ".sig");
}

class TrustPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = TempDir::Create("/tmp", "syspgo-policy-test-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::move(*dir);
    ASSERT_TRUE(MakeDirs(JoinPath(dir_.path(), "keys")).ok());
    ASSERT_TRUE(WriteFileAtomic(JoinPath(dir_.path(), "keys/a.pub"), NewKeyPem("ED25519").second,
                                0644, false)
                    .ok());
  }
  Result<TrustPolicy> Parse(const std::string& json) {
    return TrustPolicy::Parse(json, dir_.path(), "test-policy");
  }
  static oci::ImageReference Ref(const std::string& text) {
    return *oci::ImageReference::Parse(text);
  }
  TempDir dir_;
};

TEST_F(TrustPolicyTest, MostSpecificScopeWins) {
  auto policy = Parse(R"({"version": 1, "rules": [
      {"scope": "*", "accept": "none"},
      {"scope": "reg.example.com/team/*", "accept": "signed", "keys": ["keys/a.pub"]},
      {"scope": "reg.example.com/team/app", "accept": "unsigned"},
      {"scope": "reg.example.com/*", "accept": "unsigned"}]})");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  auto d = policy->Decide(Ref("reg.example.com/team/app:1"));
  EXPECT_EQ(d.accept, Acceptance::kUnsigned) << d.source;
  d = policy->Decide(Ref("reg.example.com/team/web@sha256:" + std::string(64, 'a')));
  EXPECT_EQ(d.accept, Acceptance::kSigned) << d.source;
  ASSERT_EQ(d.keys.size(), 1u);
  EXPECT_NE(d.source.find("reg.example.com/team/*"), std::string::npos);
  EXPECT_EQ(policy->Decide(Ref("reg.example.com/other:1")).accept, Acceptance::kUnsigned);
  EXPECT_EQ(policy->Decide(Ref("elsewhere.io/app:1")).accept, Acceptance::kNone);
  // "team/*" is not a prefix of "teamwork".
  EXPECT_EQ(policy->Decide(Ref("reg.example.com/teamwork:1")).accept, Acceptance::kUnsigned);
}

TEST_F(TrustPolicyTest, DefaultTrustsTagsNotDigests) {
  TrustPolicy none;
  EXPECT_EQ(none.Decide(Ref("127.0.0.1:5000/app:1")).accept, Acceptance::kUnsigned);
  auto pinned = none.Decide(Ref("127.0.0.1:5000/app@sha256:" + std::string(64, 'b')));
  EXPECT_EQ(pinned.accept, Acceptance::kNone);
  EXPECT_NE(pinned.source.find("pinned by digest"), std::string::npos) << pinned.source;
  // A policy without a rule for the repository leaves the default.
  auto policy = Parse(R"({"version": 1, "rules": [{"scope": "x.io/*", "accept": "none"}]})");
  ASSERT_TRUE(policy.ok());
  EXPECT_EQ(policy->Decide(Ref("127.0.0.1:5000/app:1")).accept, Acceptance::kUnsigned);
  EXPECT_EQ(policy->Decide(Ref("127.0.0.1:5000/app@sha256:" + std::string(64, 'b'))).accept,
            Acceptance::kNone);
}

// A daemon's policy file, followed: a change is loaded, a change that does
// not load leaves the last good policy (and says why), a named file that
// is missing at the start is an error, an unnamed one means the default.
TEST_F(TrustPolicyTest, WatchedPolicyReloadsAChangedFile) {
  const std::string path = JoinPath(dir_.path(), "policy.json");
  EXPECT_EQ(WatchedTrustPolicy::Open(path).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(WriteFileAtomic(path, R"({"version": 1, "rules": []})", 0644, false).ok());
  auto w = WatchedTrustPolicy::Open(path);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  EXPECT_EQ(w->policy().Decide(Ref("r.io/app:1")).accept, Acceptance::kUnsigned);
  EXPECT_FALSE(*w->Refresh());
  ASSERT_TRUE(WriteFileAtomic(path,
                              R"({"version": 1, "rules": [{"scope": "*", "accept": "none"}]})",
                              0644, false)
                  .ok());
  auto changed = w->Refresh();
  ASSERT_TRUE(changed.ok() && *changed) << changed.status().ToString();
  EXPECT_EQ(w->policy().Decide(Ref("r.io/app:1")).accept, Acceptance::kNone);
  ASSERT_TRUE(WriteFileAtomic(path, "{not json", 0644, false).ok());
  EXPECT_FALSE(w->Refresh().ok());
  EXPECT_EQ(w->policy().Decide(Ref("r.io/app:1")).accept, Acceptance::kNone) << "the last good one";
  EXPECT_FALSE(*w->Refresh()) << "a bad file is reported once, until it changes again";
  ASSERT_TRUE(::unlink(path.c_str()) == 0);
  EXPECT_FALSE(w->Refresh().ok()) << "a named policy that is gone";
  EXPECT_EQ(w->policy().Decide(Ref("r.io/app:1")).accept, Acceptance::kNone);
}

// Issue 25: with a rule for 127.0.0.1:PORT/app and no "*" rule, other
// spellings of the same host fell to the default (unsigned accepted). Every
// alias now hits the rule; a host that cannot be normalized is refused.
TEST_F(TrustPolicyTest, HostAliasesHitTheSameRule) {
  auto policy = Parse(R"({"version": 1, "rules": [
      {"scope": "127.0.0.1:5000/app", "accept": "signed", "keys": ["keys/a.pub"]},
      {"scope": "Reg.Example.com:443/team/*", "accept": "signed", "keys": ["keys/a.pub"]}]})");
  ASSERT_TRUE(policy.ok()) << policy.status().ToString();
  for (const char* ref :
       {"127.0.0.1:5000/app:1", "localhost:5000/app:1", "127.1:5000/app:1", "[::1]:5000/app:1",
        "LOCALHOST:5000/app:1", "127.0.0.7:5000/app:1", "127.0.0.1:05000/app:1",
        "reg.example.com/team/x:1", "REG.EXAMPLE.COM/team/x:1", "reg.example.com.:443/team/x:1"}) {
    auto d = policy->Decide(Ref(ref));
    EXPECT_EQ(d.accept, Acceptance::kSigned) << ref << ": " << d.source;
  }
  // Another port is another registry: the default holds.
  EXPECT_EQ(policy->Decide(Ref("127.0.0.1:5001/app:1")).accept, Acceptance::kUnsigned);
  auto refused = policy->Decide(Ref("bad_host.example/app:1"));
  EXPECT_EQ(refused.accept, Acceptance::kNone);
  EXPECT_NE(refused.source.find("cannot be normalized"), std::string::npos) << refused.source;
  // Two spellings of one scope are one scope.
  EXPECT_EQ(Parse(R"({"version": 1, "rules": [{"scope": "localhost:5000/a", "accept": "none"},
                    {"scope": "127.0.0.1:5000/a", "accept": "none"}]})")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(Parse(R"({"version": 1, "rules": [{"scope": "bad_host/a", "accept": "none"}]})")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

TEST_F(TrustPolicyTest, MalformedPoliciesAreRefused) {
  for (
      const std::string& bad : {
          std::string("not json"),
          std::string(R"({"rules": []})"),
          std::string(R"({"version": 2, "rules": []})"),
          std::string(R"({"version": 1, "rules": {}})"),
          std::string(R"({"version": 1, "rules": [], "extra": 1})"),
          std::string(R"({"version": 1, "rules": [{"scope": "a/b", "accept": "maybe"}]})"),
          std::string(R"({"version": 1, "rules": [{"scope": "a/b", "accept": "signed"}]})"),
          std::string(
              R"({"version": 1, "rules": [{"scope": "a/b", "accept": "unsigned", "keys": ["keys/a.pub"]}]})"),
          std::string(
              R"({"version": 1, "rules": [{"scope": "a/b", "accept": "signed", "keys": ["keys/missing.pub"]}]})"),
          std::string(R"({"version": 1, "rules": [{"scope": "a/*/b", "accept": "none"}]})"),
          std::string(R"({"version": 1, "rules": [{"scope": "", "accept": "none"}]})"),
          std::string(
              R"({"version": 1, "rules": [{"scope": "a/b", "accept": "none"}, {"scope": "a/b", "accept": "none"}]})"),
          std::string(
              R"({"version": 1, "rules": [{"scope": "a/b", "accept": "none", "key": []}]})"),
      }) {
    auto p = Parse(bad);
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
  }
  // Absolute key paths and files.
  const std::string file = JoinPath(dir_.path(), "policy.json");
  ASSERT_TRUE(
      WriteFileAtomic(file,
                      R"({"version": 1, "rules": [{"scope": "*", "accept": "signed", "keys": [")" +
                          JoinPath(dir_.path(), "keys/a.pub") + R"("]}]})",
                      0644, false)
          .ok());
  auto loaded = TrustPolicy::Load(file);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->Decide(Ref("a.io/b:1")).keys.size(), 1u);
}

}  // namespace
}  // namespace syspgo::rtimage
