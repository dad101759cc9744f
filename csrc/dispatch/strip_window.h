// A strip call seen as a (K, 1) or (1, K) window call: what the forward (as_window) and the
// gradients (as_window_grad_input, as_window_grad_weight) share, so that one place maps a strip's
// axis onto the window's.
#pragma once

#include "dwconv_params.h"

namespace cute_dwconv {

// Sets the window call's element type, sizes, and the window's shape, stride, padding and dilation
// along each axis (the strip's taps along its axis, one tap along the other), from any strip params
// type with those fields. The caller sets the rest: its tensors and their strides.
template <class Strip, class Window>
void set_strip_window_shape(Strip const& p, Window& w) {
  bool const vertical = p.axis == TapAxis::kHeight;
  w.dtype = p.dtype;
  w.N = p.N; w.C = p.C; w.H = p.H; w.W = p.W; w.Ho = p.Ho; w.Wo = p.Wo;
  w.kh = vertical ? p.kernel_size : 1;
  w.kw = vertical ? 1 : p.kernel_size;
  w.stride_h = p.stride_h; w.stride_w = p.stride_w;
  w.padding_h = p.padding_h; w.padding_w = p.padding_w;
  w.dilation_h = vertical ? p.dilation : 1;
  w.dilation_w = vertical ? 1 : p.dilation;
  w.device = p.device;
}

// set_strip_window_shape, and x with its strides.
template <class Strip, class Window>
void set_strip_window_geometry(Strip const& p, Window& w) {
  set_strip_window_shape(p, w);
  w.x = p.x;
  w.x_stride_n = p.x_stride_n; w.x_stride_c = p.x_stride_c; w.x_stride_h = p.x_stride_h; w.x_stride_w = p.x_stride_w;
}

}  // namespace cute_dwconv
