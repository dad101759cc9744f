// Small helpers for values a configuration may fix at compile time.
#pragma once

#include <cute/config.hpp>
#include <cute/numeric/integral_constant.hpp>

namespace cute_dwconv {

// A compile-time constant where the configuration fixes the value, the call's value otherwise.
template <bool kFixed, int kValue, class Dynamic>
CUTE_HOST_DEVICE constexpr auto fixed_or(Dynamic dynamic_value) {
  if constexpr (kFixed) {
    return cute::Int<kValue>{};
  } else {
    return dynamic_value;
  }
}

// The value of a compile-time extent, or `otherwise` for one known only at run time.
template <class Extent>
CUTE_HOST_DEVICE constexpr int static_value_or(int otherwise) {
  if constexpr (cute::is_static<Extent>::value) {
    return int(Extent::value);
  } else {
    return otherwise;
  }
}

CUTE_HOST_DEVICE constexpr int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

}  // namespace cute_dwconv
