// A portable, seedable random generator (splitmix64 seeding + xoshiro256**). The standard
// library's distributions differ between implementations, so every random choice semid makes
// (sampling, initialisation, splits) goes through this to be identical on every platform.
#pragma once
#include <cstdint>

namespace semid {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) {
    std::uint64_t z = seed;
    for (auto& s : s_) s = splitmix(z);
  }
  std::uint64_t next() {
    const std::uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0]; s_[3] ^= s_[1]; s_[1] ^= s_[2]; s_[0] ^= s_[3];
    s_[2] ^= t; s_[3] = rotl(s_[3], 45);
    return result;
  }
  /** Uniform in [0, 1). */
  double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
  /** Uniform integer in [0, bound), bound > 0 (Lemire's multiply-shift, unbiased enough for 2^32). */
  std::uint64_t below(std::uint64_t bound) { return std::uint64_t(uniform() * double(bound)) % bound; }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix(std::uint64_t& z) {
    z += 0x9e3779b97f4a7c15ull;
    std::uint64_t r = z;
    r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
    r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
    return r ^ (r >> 31);
  }
  std::uint64_t s_[4];
};

}  // namespace semid
