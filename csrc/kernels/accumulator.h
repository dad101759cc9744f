// The type a kernel accumulates in: float for the 16- and 32-bit element types, double for double.
#pragma once

namespace cute_dwconv {

template <class T> struct Accumulator { using type = float; };
template <> struct Accumulator<double> { using type = double; };

template <class T>
using accumulator_t = typename Accumulator<T>::type;

}  // namespace cute_dwconv
