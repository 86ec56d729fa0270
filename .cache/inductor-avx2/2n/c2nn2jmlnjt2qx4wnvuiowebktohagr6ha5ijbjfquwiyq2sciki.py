# AOT ID: ['23_inference']
from ctypes import c_void_p, c_long, c_int
import torch
import math
import random
import os
import tempfile
from math import inf, nan
from cmath import nanj
from torch._inductor.hooks import run_intermediate_hooks
from torch._inductor.utils import maybe_profile
from torch._inductor.codegen.memory_planning import _align as align
from torch import device, empty_strided
from torch._inductor.async_compile import AsyncCompile
from torch._inductor.select_algorithm import extern_kernels

aten = torch.ops.aten
inductor_ops = torch.ops.inductor
_quantized = torch.ops._quantized
assert_size_stride = torch._C._dynamo.guards.assert_size_stride
assert_alignment = torch._C._dynamo.guards.assert_alignment
empty_strided_cpu = torch._C._dynamo.guards._empty_strided_cpu
empty_strided_cpu_pinned = torch._C._dynamo.guards._empty_strided_cpu_pinned
empty_strided_cuda = torch._C._dynamo.guards._empty_strided_cuda
empty_strided_xpu = torch._C._dynamo.guards._empty_strided_xpu
empty_strided_mtia = torch._C._dynamo.guards._empty_strided_mtia
reinterpret_tensor = torch._C._dynamo.guards._reinterpret_tensor
alloc_from_pool = torch.ops.inductor._alloc_from_pool
async_compile = AsyncCompile()
empty_strided_p2p = torch._C._distributed_c10d._SymmetricMemory.empty_strided_p2p


cpp_fused_add_index_mean_mul_packed_linear_pow_rsqrt_select_0 = async_compile.cpp_pybinding(['const int64_t*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const int64_t* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(ks0); x1+=static_cast<int64_t>(1L))
            {
                {
                    float tmp_acc0 = 0;
                    at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                    for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                    {
                        {
                            if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                            {
                                auto tmp0 = in_ptr0[static_cast<int64_t>(x1)];
                                auto tmp1 = 60L;
                                auto tmp2 = c10::convert<int64_t>(tmp1);
                                auto tmp3 = int64_t(tmp0 + tmp2);
                                auto tmp4 = tmp0 < 0;
                                auto tmp5 = tmp4 ? tmp3 : tmp0;
                                auto tmp6 = tmp5;
                                auto tmp7 = c10::convert<int64_t>(tmp6);
                                TORCH_CHECK((0 <= tmp7) & (tmp7 < 60L), "index out of bounds: 0 <= tmp7 < 60L");
                                auto tmp9 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x2 + 32L*tmp5 + 1920L*x0), static_cast<int64_t>(8));
                                auto tmp10 = tmp9 * tmp9;
                                tmp_acc0_vec = tmp_acc0_vec + tmp10;
                            }
                        }
                    }
                    tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                    out_ptr0[static_cast<int64_t>(x1 + ks0*x0)] = static_cast<float>(tmp_acc0);
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                        auto tmp1 = in_ptr0[static_cast<int64_t>(x0)];
                        auto tmp11 = out_ptr0[static_cast<int64_t>(x0)];
                        auto tmp20 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(32L + x1), static_cast<int64_t>(8));
                        auto tmp22 = out_ptr0[static_cast<int64_t>(ks0 + x0)];
                        auto tmp2 = 60L;
                        auto tmp3 = c10::convert<int64_t>(tmp2);
                        auto tmp4 = int64_t(tmp1 + tmp3);
                        auto tmp5 = tmp1 < 0;
                        auto tmp6 = tmp5 ? tmp4 : tmp1;
                        auto tmp7 = tmp6;
                        auto tmp8 = c10::convert<int64_t>(tmp7);
                        TORCH_CHECK((0 <= tmp8) & (tmp8 < 60L), "index out of bounds: 0 <= tmp8 < 60L");
                        auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x1 + 32L*tmp6), static_cast<int64_t>(8));
                        auto tmp12 = static_cast<float>(32.0);
                        auto tmp13 = tmp11 / tmp12;
                        auto tmp14 = static_cast<float>(1e-06);
                        auto tmp15 = float(tmp13 + tmp14);
                        auto tmp16 = 1 / std::sqrt(tmp15);
                        auto tmp17 = at::vec::Vectorized<float>(tmp16);
                        auto tmp18 = tmp10 * tmp17;
                        auto tmp19 = tmp0 * tmp18;
                        auto tmp21 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(1920L + x1 + 32L*tmp6), static_cast<int64_t>(8));
                        auto tmp23 = tmp22 / tmp12;
                        auto tmp24 = float(tmp23 + tmp14);
                        auto tmp25 = 1 / std::sqrt(tmp24);
                        auto tmp26 = at::vec::Vectorized<float>(tmp25);
                        auto tmp27 = tmp21 * tmp26;
                        auto tmp28 = tmp20 * tmp27;
                        tmp19.store(out_ptr1 + static_cast<int64_t>(x1 + 32L*x0));
                        tmp28.store(out_ptr2 + static_cast<int64_t>(x1 + 32L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused__to_copy_add_cat_cos_decode_attention__mul_neg_select_sin_slice_split_with_sizes_stack_unsqueeze_view_1 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const float*', 'const int64_t*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       const int64_t* in_ptr3,
                       const float* in_ptr4,
                       const float* in_ptr5,
                       const float* in_ptr6,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr3,
                       float* out_ptr4,
                       float* out_ptr5,
                       float* out_ptr6,
                       float* out_ptr7,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(96L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(96L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(96L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(96L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(2L); x1+=static_cast<int64_t>(1L))
            {
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(8L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(8L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(8L + x2 + 16L*x1 + 96L*x0), static_cast<int64_t>(8));
                            auto tmp1 = tmp0.neg();
                            tmp1.store(out_ptr2 + static_cast<int64_t>(x2 + 16L*x1 + 32L*x0));
                        }
                    }
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(2L); x1+=static_cast<int64_t>(1L))
            {
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(8L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(8L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x2 + 16L*x1 + 96L*x0), static_cast<int64_t>(8));
                            tmp0.store(out_ptr3 + static_cast<int64_t>(x2 + 16L*x1 + 32L*x0));
                        }
                    }
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(2L); x1+=static_cast<int64_t>(1L))
            {
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(8L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(8L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(40L + x2 + 16L*x1 + 96L*x0), static_cast<int64_t>(8));
                            auto tmp1 = tmp0.neg();
                            tmp1.store(out_ptr4 + static_cast<int64_t>(x2 + 16L*x1 + 32L*x0));
                        }
                    }
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(2L); x1+=static_cast<int64_t>(1L))
            {
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(8L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(8L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(32L + x2 + 16L*x1 + 96L*x0), static_cast<int64_t>(8));
                            tmp0.store(out_ptr5 + static_cast<int64_t>(x2 + 16L*x1 + 32L*x0));
                        }
                    }
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(ks0); x1+=static_cast<int64_t>(1L))
            {
                #pragma GCC ivdep
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(2L); x2+=static_cast<int64_t>(1L))
                {
                    for(int64_t x3=static_cast<int64_t>(0L); x3<static_cast<int64_t>(16L); x3+=static_cast<int64_t>(8L))
                    {
                        {
                            if(C10_LIKELY(x3 >= static_cast<int64_t>(0) && x3 < static_cast<int64_t>(16L)))
                            {
                                auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x3 + 16L*x2 + 96L*x1 + 96L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp1 = in_ptr3[static_cast<int64_t>(x1)];
                                auto tmp3 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>((static_cast<int64_t>(x3) % static_cast<int64_t>(8L))), static_cast<int64_t>(8));
                                auto tmp11 = at::vec::Vectorized<float>::loadu(in_ptr5 + static_cast<int64_t>(x3 + 16L*x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp16 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(32L + x3 + 16L*x2 + 96L*x1 + 96L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp18 = at::vec::Vectorized<float>::loadu(in_ptr6 + static_cast<int64_t>(x3 + 16L*x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp2 = c10::convert<float>(tmp1);
                                auto tmp4 = at::vec::Vectorized<float>(tmp2);
                                auto tmp5 = tmp4 * tmp3;
                                auto tmp6 = tmp5.cos();
                                auto tmp7 = static_cast<float>(1.0);
                                auto tmp8 = at::vec::Vectorized<float>(tmp7);
                                auto tmp9 = tmp6 * tmp8;
                                auto tmp10 = tmp0 * tmp9;
                                auto tmp12 = tmp5.sin();
                                auto tmp13 = tmp12 * tmp8;
                                auto tmp14 = tmp11 * tmp13;
                                auto tmp15 = tmp10 + tmp14;
                                auto tmp17 = tmp16 * tmp9;
                                auto tmp19 = tmp18 * tmp13;
                                auto tmp20 = tmp17 + tmp19;
                                tmp15.store(out_ptr6 + static_cast<int64_t>(x3 + 16L*x2 + 32L*x1 + 32L*ks0*x0));
                                tmp20.store(out_ptr7 + static_cast<int64_t>(x3 + 16L*x2 + 32L*x1 + 32L*ks0*x0));
                            }
                        }
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_index_mean_mul_pow_rsqrt_stack_2 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const int64_t*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const int64_t* in_ptr2,
                       const float* in_ptr3,
                       const float* in_ptr4,
                       const float* in_ptr5,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr3,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(ks0); x1+=static_cast<int64_t>(1L))
            {
                {
                    float tmp_acc0 = 0;
                    at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                    for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                    {
                        {
                            if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                            {
                                auto tmp0 = in_ptr2[static_cast<int64_t>(x1)];
                                auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp1 = 60L;
                                auto tmp2 = c10::convert<int64_t>(tmp1);
                                auto tmp3 = int64_t(tmp0 + tmp2);
                                auto tmp4 = tmp0 < 0;
                                auto tmp5 = tmp4 ? tmp3 : tmp0;
                                auto tmp6 = tmp5;
                                auto tmp7 = c10::convert<int64_t>(tmp6);
                                TORCH_CHECK((0 <= tmp7) & (tmp7 < 60L), "index out of bounds: 0 <= tmp7 < 60L");
                                auto tmp9 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x2 + 32L*tmp5 + 1920L*x0), static_cast<int64_t>(8));
                                auto tmp11 = tmp9 + tmp10;
                                auto tmp12 = tmp11 * tmp11;
                                tmp_acc0_vec = tmp_acc0_vec + tmp12;
                            }
                        }
                    }
                    tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                    out_ptr2[static_cast<int64_t>(x1 + ks0*x0)] = static_cast<float>(tmp_acc0);
                }
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr5 + static_cast<int64_t>(x2 + 32L*x0), static_cast<int64_t>(8));
                            auto tmp1 = in_ptr2[static_cast<int64_t>(x1)];
                            auto tmp11 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp13 = out_ptr2[static_cast<int64_t>(x1 + ks0*x0)];
                            auto tmp2 = 60L;
                            auto tmp3 = c10::convert<int64_t>(tmp2);
                            auto tmp4 = int64_t(tmp1 + tmp3);
                            auto tmp5 = tmp1 < 0;
                            auto tmp6 = tmp5 ? tmp4 : tmp1;
                            auto tmp7 = tmp6;
                            auto tmp8 = c10::convert<int64_t>(tmp7);
                            TORCH_CHECK((0 <= tmp8) & (tmp8 < 60L), "index out of bounds: 0 <= tmp8 < 60L");
                            auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x2 + 32L*tmp6 + 1920L*x0), static_cast<int64_t>(8));
                            auto tmp12 = tmp10 + tmp11;
                            auto tmp14 = static_cast<float>(32.0);
                            auto tmp15 = tmp13 / tmp14;
                            auto tmp16 = static_cast<float>(1e-06);
                            auto tmp17 = float(tmp15 + tmp16);
                            auto tmp18 = 1 / std::sqrt(tmp17);
                            auto tmp19 = at::vec::Vectorized<float>(tmp18);
                            auto tmp20 = tmp12 * tmp19;
                            auto tmp21 = tmp0 * tmp20;
                            tmp21.store(out_ptr3 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0));
                        }
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_mul_silu_split_stack_3 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(128L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(128L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(128L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(128L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(64L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(64L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 128L*x0), static_cast<int64_t>(8));
                        auto tmp7 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(64L + x1 + 128L*x0), static_cast<int64_t>(8));
                        auto tmp1 = tmp0.neg();
                        auto tmp2 = tmp1.exp();
                        auto tmp3 = static_cast<float>(1.0);
                        auto tmp4 = at::vec::Vectorized<float>(tmp3);
                        auto tmp5 = tmp2 + tmp4;
                        auto tmp6 = tmp0 / tmp5;
                        auto tmp8 = tmp6 * tmp7;
                        tmp8.store(out_ptr2 + static_cast<int64_t>(x1 + 64L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_index_mean_mul_pow_rsqrt_stack_4 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const int64_t*', 'const float*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const int64_t* in_ptr2,
                       const float* in_ptr3,
                       const float* in_ptr4,
                       const float* in_ptr5,
                       const float* in_ptr6,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr3,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(ks0); x1+=static_cast<int64_t>(1L))
            {
                {
                    float tmp_acc0 = 0;
                    at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                    for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                    {
                        {
                            if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                            {
                                auto tmp0 = in_ptr2[static_cast<int64_t>(x1)];
                                auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp12 = at::vec::Vectorized<float>::loadu(in_ptr5 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                                auto tmp1 = 60L;
                                auto tmp2 = c10::convert<int64_t>(tmp1);
                                auto tmp3 = int64_t(tmp0 + tmp2);
                                auto tmp4 = tmp0 < 0;
                                auto tmp5 = tmp4 ? tmp3 : tmp0;
                                auto tmp6 = tmp5;
                                auto tmp7 = c10::convert<int64_t>(tmp6);
                                TORCH_CHECK((0 <= tmp7) & (tmp7 < 60L), "index out of bounds: 0 <= tmp7 < 60L");
                                auto tmp9 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x2 + 32L*tmp5 + 1920L*x0), static_cast<int64_t>(8));
                                auto tmp11 = tmp9 + tmp10;
                                auto tmp13 = tmp11 + tmp12;
                                auto tmp14 = tmp13 * tmp13;
                                tmp_acc0_vec = tmp_acc0_vec + tmp14;
                            }
                        }
                    }
                    tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                    out_ptr2[static_cast<int64_t>(x1 + ks0*x0)] = static_cast<float>(tmp_acc0);
                }
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr6 + static_cast<int64_t>(x2 + 32L*x0), static_cast<int64_t>(8));
                            auto tmp1 = in_ptr2[static_cast<int64_t>(x1)];
                            auto tmp11 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp13 = at::vec::Vectorized<float>::loadu(in_ptr5 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp15 = out_ptr2[static_cast<int64_t>(x1 + ks0*x0)];
                            auto tmp2 = 60L;
                            auto tmp3 = c10::convert<int64_t>(tmp2);
                            auto tmp4 = int64_t(tmp1 + tmp3);
                            auto tmp5 = tmp1 < 0;
                            auto tmp6 = tmp5 ? tmp4 : tmp1;
                            auto tmp7 = tmp6;
                            auto tmp8 = c10::convert<int64_t>(tmp7);
                            TORCH_CHECK((0 <= tmp8) & (tmp8 < 60L), "index out of bounds: 0 <= tmp8 < 60L");
                            auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x2 + 32L*tmp6 + 1920L*x0), static_cast<int64_t>(8));
                            auto tmp12 = tmp10 + tmp11;
                            auto tmp14 = tmp12 + tmp13;
                            auto tmp16 = static_cast<float>(32.0);
                            auto tmp17 = tmp15 / tmp16;
                            auto tmp18 = static_cast<float>(1e-06);
                            auto tmp19 = float(tmp17 + tmp18);
                            auto tmp20 = 1 / std::sqrt(tmp19);
                            auto tmp21 = at::vec::Vectorized<float>(tmp20);
                            auto tmp22 = tmp14 * tmp21;
                            auto tmp23 = tmp0 * tmp22;
                            tmp23.store(out_ptr3 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0));
                        }
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_index_mean_mul_packed_linear_pow_rsqrt_select_stack_5 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const int64_t*', 'const float*', 'const float*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const int64_t* in_ptr2,
                       const float* in_ptr3,
                       const float* in_ptr4,
                       const float* in_ptr5,
                       const float* in_ptr6,
                       const float* in_ptr7,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr3,
                       float* out_ptr4,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
        {
            #pragma GCC ivdep
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(ks0); x1+=static_cast<int64_t>(1L))
            {
                for(int64_t x2=static_cast<int64_t>(0L); x2<static_cast<int64_t>(32L); x2+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x2 >= static_cast<int64_t>(0) && x2 < static_cast<int64_t>(32L)))
                        {
                            auto tmp0 = in_ptr2[static_cast<int64_t>(x1)];
                            auto tmp10 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp12 = at::vec::Vectorized<float>::loadu(in_ptr5 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp14 = at::vec::Vectorized<float>::loadu(in_ptr6 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0), static_cast<int64_t>(8));
                            auto tmp1 = 60L;
                            auto tmp2 = c10::convert<int64_t>(tmp1);
                            auto tmp3 = int64_t(tmp0 + tmp2);
                            auto tmp4 = tmp0 < 0;
                            auto tmp5 = tmp4 ? tmp3 : tmp0;
                            auto tmp6 = tmp5;
                            auto tmp7 = c10::convert<int64_t>(tmp6);
                            TORCH_CHECK((0 <= tmp7) & (tmp7 < 60L), "index out of bounds: 0 <= tmp7 < 60L");
                            auto tmp9 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x2 + 32L*tmp5 + 1920L*x0), static_cast<int64_t>(8));
                            auto tmp11 = tmp9 + tmp10;
                            auto tmp13 = tmp11 + tmp12;
                            auto tmp15 = tmp13 + tmp14;
                            tmp15.store(out_ptr2 + static_cast<int64_t>(x2 + 32L*x1 + 32L*ks0*x0));
                        }
                    }
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr2 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                            auto tmp1 = tmp0 * tmp0;
                            tmp_acc0_vec = tmp_acc0_vec + tmp1;
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr3[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr7 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::Vectorized<float>::loadu(out_ptr2 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp2 = out_ptr3[static_cast<int64_t>(x0)];
                        auto tmp3 = static_cast<float>(32.0);
                        auto tmp4 = tmp2 / tmp3;
                        auto tmp5 = static_cast<float>(1e-06);
                        auto tmp6 = float(tmp4 + tmp5);
                        auto tmp7 = 1 / std::sqrt(tmp6);
                        auto tmp8 = at::vec::Vectorized<float>(tmp7);
                        auto tmp9 = tmp1 * tmp8;
                        auto tmp10 = tmp0 * tmp9;
                        tmp10.store(out_ptr4 + static_cast<int64_t>(x1 + 32L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_6 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       float* out_ptr0,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(32L + x1), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x1 + 32L*ks0 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp2 = in_ptr2[static_cast<int64_t>(ks0 + x0)];
                        auto tmp3 = static_cast<float>(32.0);
                        auto tmp4 = tmp2 / tmp3;
                        auto tmp5 = static_cast<float>(1e-06);
                        auto tmp6 = float(tmp4 + tmp5);
                        auto tmp7 = 1 / std::sqrt(tmp6);
                        auto tmp8 = at::vec::Vectorized<float>(tmp7);
                        auto tmp9 = tmp1 * tmp8;
                        auto tmp10 = tmp0 * tmp9;
                        tmp10.store(out_ptr0 + static_cast<int64_t>(x1 + 32L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_stack_7 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       const float* in_ptr3,
                       const float* in_ptr4,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr3,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(32L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(32L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L*ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                            auto tmp1 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                            auto tmp2 = tmp0 + tmp1;
                            auto tmp3 = tmp2 * tmp2;
                            tmp_acc0_vec = tmp_acc0_vec + tmp3;
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr2[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x1 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp4 = out_ptr2[static_cast<int64_t>(x0)];
                        auto tmp3 = tmp1 + tmp2;
                        auto tmp5 = static_cast<float>(32.0);
                        auto tmp6 = tmp4 / tmp5;
                        auto tmp7 = static_cast<float>(1e-06);
                        auto tmp8 = float(tmp6 + tmp7);
                        auto tmp9 = 1 / std::sqrt(tmp8);
                        auto tmp10 = at::vec::Vectorized<float>(tmp9);
                        auto tmp11 = tmp3 * tmp10;
                        auto tmp12 = tmp0 * tmp11;
                        tmp12.store(out_ptr3 + static_cast<int64_t>(x1 + 32L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_stack_8 = async_compile.cpp_pybinding(['const float*', 'const float*', 'const float*', 'const float*', 'float*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       const float* in_ptr3,
                       float* out_ptr0,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(32L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(32L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(32L + x1), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x1 + 32L*ks0 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 32L*ks0 + 32L*x0), static_cast<int64_t>(8));
                        auto tmp4 = in_ptr3[static_cast<int64_t>(ks0 + x0)];
                        auto tmp3 = tmp1 + tmp2;
                        auto tmp5 = static_cast<float>(32.0);
                        auto tmp6 = tmp4 / tmp5;
                        auto tmp7 = static_cast<float>(1e-06);
                        auto tmp8 = float(tmp6 + tmp7);
                        auto tmp9 = 1 / std::sqrt(tmp8);
                        auto tmp10 = at::vec::Vectorized<float>(tmp9);
                        auto tmp11 = tmp3 * tmp10;
                        auto tmp12 = tmp0 * tmp11;
                        tmp12.store(out_ptr0 + static_cast<int64_t>(x1 + 32L*x0));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused__log_softmax__softmax__to_copy_add_amax_arange_argmax_bitwise_not_ge_gt_masked_fill_max_mul_scalar_tensor_select_stack_sub_sum_where_9 = async_compile.cpp_pybinding(['float*', 'float*', 'double*', 'const float*', 'const float*', 'const float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'float*', 'int64_t*', 'int64_t*', 'float*', 'double*', 'double*', 'int64_t*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(float* in_out_ptr0,
                       float* in_out_ptr1,
                       double* in_out_ptr2,
                       const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       float* out_ptr0,
                       float* out_ptr1,
                       float* out_ptr2,
                       float* out_ptr4,
                       float* out_ptr6,
                       float* out_ptr7,
                       float* out_ptr8,
                       int64_t* out_ptr9,
                       int64_t* out_ptr10,
                       float* out_ptr11,
                       double* out_ptr12,
                       double* out_ptr14,
                       int64_t* out_ptr15,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    auto out_ptr3 = in_out_ptr0;
    auto out_ptr5 = in_out_ptr1;
    auto out_ptr13 = in_out_ptr2;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(60L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))))))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0));
                }
                if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L)))) && x0 < static_cast<int64_t>(60L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>((-8L)*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))) + 60L*ks0));
                    tmp0.store(out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>((-8L)*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))) + 60L*ks0));
                }
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(60L*ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))))))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0));
                }
                if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L)))) && x0 < static_cast<int64_t>(60L*ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>((-8L)*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))) + 60L*ks0));
                    tmp0.store(out_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>((-8L)*(c10::div_floor_integer(static_cast<int64_t>(15L*ks0), static_cast<int64_t>(2L))) + 60L*ks0));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp0);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp0, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr2[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = tmp_acc0_vec + tmp4;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp4, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                in_out_ptr0[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L))))))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr3 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp1 = tmp0.log();
                    tmp1.store(in_out_ptr0 + static_cast<int64_t>(x0));
                }
                if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))) && x0 < static_cast<int64_t>(ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr3 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp1 = tmp0.log();
                    tmp1.store(in_out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(8));
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp0);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp0, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr4[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                float tmp_acc1 = 0;
                at::vec::Vectorized<float> tmp_acc1_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = tmp_acc0_vec + tmp4;
                            tmp_acc1_vec = tmp_acc1_vec + tmp0;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp4, static_cast<int64_t>(4L));
                            tmp_acc1_vec = sum_masked_reduce(tmp_acc1_vec, tmp0, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                in_out_ptr1[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
                tmp_acc1 = tmp_acc1 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc1_vec);
                out_ptr6[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc1);
            }
        }
    }
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L))))))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr5 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp1 = tmp0.log();
                    tmp1.store(in_out_ptr1 + static_cast<int64_t>(x0));
                }
                if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))) && x0 < static_cast<int64_t>(ks0)))
                {
                    auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr5 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp1 = tmp0.log();
                    tmp1.store(in_out_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                }
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp6);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp6, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr7[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                IndexValue<float> tmp_acc1 = IndexValue<float>{0, -std::numeric_limits<float>::infinity()};
                IndexValueVec<float, 1, 2> tmp_acc1_vec = IndexValueVec<float, 1, 2>(-std::numeric_limits<float>::infinity());
                int64_t tmp_acc2 = 0;
                at::vec::VectorizedN<int64_t,2> tmp_acc2_vec = at::vec::VectorizedN<int64_t,2>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp7 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            auto tmp8 = static_cast<float>(-2.3025850929940455);
                            auto tmp9 = float(tmp7 + tmp8);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = at::vec::VecMask<float,1>(tmp6 >= tmp10);
                            auto tmp12 = tmp11.to<int64_t,2>();
                            tmp_acc0_vec = tmp_acc0_vec + tmp0;
                            tmp_acc1_vec = argmax_combine_vec<float, 1, 2, true>(tmp_acc1_vec, tmp0, x1);
                            tmp_acc2_vec = tmp_acc2_vec + tmp12;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp7 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            auto tmp8 = static_cast<float>(-2.3025850929940455);
                            auto tmp9 = float(tmp7 + tmp8);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = at::vec::VecMask<float,1>(tmp6 >= tmp10);
                            auto tmp12 = tmp11.to<int64_t,2>();
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp0, static_cast<int64_t>(4L));
                            tmp_acc1_vec = argmax_combine_vec<float, 1, 2, true>(tmp_acc1_vec, tmp0, x1, static_cast<int64_t>(4L));
                            tmp_acc2_vec = sum_masked_reduce(tmp_acc2_vec, tmp12, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr8[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
                tmp_acc1 = argmax_combine(tmp_acc1, argmax_vec_reduce_all(tmp_acc1_vec));
                out_ptr9[static_cast<int64_t>(x0)] = static_cast<int64_t>(tmp_acc1.index);
                tmp_acc2 = tmp_acc2 + at::vec::vec_reduce_all<int64_t, 2>([](at::vec::Vectorized<int64_t>& x, at::vec::Vectorized<int64_t>& y) { return x + y; }, tmp_acc2_vec);
                out_ptr10[static_cast<int64_t>(x0)] = static_cast<int64_t>(tmp_acc2);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                double tmp_acc0 = -std::numeric_limits<double>::infinity();
                at::vec::VectorizedN<double,2> tmp_acc0_vec = at::vec::VectorizedN<double,2>(-std::numeric_limits<double>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp7 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp13 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp14 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp17 = in_out_ptr1[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            auto tmp8 = static_cast<float>(-2.3025850929940455);
                            auto tmp9 = float(tmp7 + tmp8);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = at::vec::VecMask<float,1>(tmp6 >= tmp10);
                            auto tmp12 = ~tmp11;
                            auto tmp15 = at::vec::Vectorized<float>(tmp14);
                            auto tmp16 = tmp13 - tmp15;
                            auto tmp18 = at::vec::Vectorized<float>(tmp17);
                            auto tmp19 = tmp16 - tmp18;
                            auto tmp20 = static_cast<float>(1.0);
                            auto tmp21 = at::vec::Vectorized<float>(tmp20);
                            auto tmp22 = tmp19 * tmp21;
                            auto tmp23 = tmp6 - tmp22;
                            auto tmp24 = -std::numeric_limits<float>::infinity();
                            auto tmp25 = at::vec::Vectorized<float>(tmp24);
                            auto tmp26 = decltype(tmp25)::blendv(tmp23, tmp25, tmp12.template cast<float,1>());
                            auto tmp27 = at::vec::convert<double,2,float,1>(tmp26);
                            tmp26.store(out_ptr11 + static_cast<int64_t>(x1 + 60L*x0));
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp27);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp4 = in_out_ptr0[static_cast<int64_t>(x0)];
                            auto tmp7 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp13 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp14 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp17 = in_out_ptr1[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp5 = at::vec::Vectorized<float>(tmp4);
                            auto tmp6 = tmp3 - tmp5;
                            auto tmp8 = static_cast<float>(-2.3025850929940455);
                            auto tmp9 = float(tmp7 + tmp8);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = at::vec::VecMask<float,1>(tmp6 >= tmp10);
                            auto tmp12 = ~tmp11;
                            auto tmp15 = at::vec::Vectorized<float>(tmp14);
                            auto tmp16 = tmp13 - tmp15;
                            auto tmp18 = at::vec::Vectorized<float>(tmp17);
                            auto tmp19 = tmp16 - tmp18;
                            auto tmp20 = static_cast<float>(1.0);
                            auto tmp21 = at::vec::Vectorized<float>(tmp20);
                            auto tmp22 = tmp19 * tmp21;
                            auto tmp23 = tmp6 - tmp22;
                            auto tmp24 = -std::numeric_limits<float>::infinity();
                            auto tmp25 = at::vec::Vectorized<float>(tmp24);
                            auto tmp26 = decltype(tmp25)::blendv(tmp23, tmp25, tmp12.template cast<float,1>());
                            auto tmp27 = at::vec::convert<double,2,float,1>(tmp26);
                            tmp26.store(out_ptr11 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp27, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<double, 2>([](at::vec::Vectorized<double>& x, at::vec::Vectorized<double>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr12[static_cast<int64_t>(x0)] = static_cast<double>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                double tmp_acc0 = 0;
                at::vec::VectorizedN<double,2> tmp_acc0_vec = at::vec::VectorizedN<double,2>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr11 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp2 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp1 = at::vec::convert<double,2,float,1>(tmp0);
                            auto tmp3 = at::vec::VectorizedN<double,2>(tmp2);
                            auto tmp4 = tmp1 - tmp3;
                            auto tmp5 = tmp4.exp();
                            tmp5.store(in_out_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            tmp_acc0_vec = tmp_acc0_vec + tmp5;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(out_ptr11 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp2 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp1 = at::vec::convert<double,2,float,1>(tmp0);
                            auto tmp3 = at::vec::VectorizedN<double,2>(tmp2);
                            auto tmp4 = tmp1 - tmp3;
                            auto tmp5 = tmp4.exp();
                            tmp5.store(in_out_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp5, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<double, 2>([](at::vec::Vectorized<double>& x, at::vec::Vectorized<double>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr14[static_cast<int64_t>(x0)] = static_cast<double>(tmp_acc0);
            }
        }
    }
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                int64_t tmp_acc0 = std::numeric_limits<int64_t>::min();
                at::vec::VectorizedN<int64_t,2> tmp_acc0_vec = at::vec::VectorizedN<int64_t,2>(std::numeric_limits<int64_t>::min());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::VectorizedN<double,2>::loadu(out_ptr13 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr14[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::VectorizedN<double,2>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = static_cast<double>(0.0);
                            auto tmp5 = at::vec::VectorizedN<double,2>(tmp4);
                            auto tmp6 = at::vec::VecMask<double,2>(tmp3 > tmp5);
                            auto tmp7 = x1;
                            auto tmp8 = c10::convert<int64_t>(tmp7);
                            auto tmp9 = at::vec::VectorizedN<int64_t,2>::arange(tmp8, 1);
                            auto tmp10 = static_cast<int64_t>(0);
                            auto tmp11 = at::vec::VectorizedN<int64_t,2>(tmp10);
                            auto tmp12 = decltype(tmp9)::blendv(tmp11, tmp9, tmp6.template cast<int64_t,2>());
                            tmp3.store(in_out_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp12);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::VectorizedN<double,2>::loadu(out_ptr13 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr14[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::VectorizedN<double,2>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = static_cast<double>(0.0);
                            auto tmp5 = at::vec::VectorizedN<double,2>(tmp4);
                            auto tmp6 = at::vec::VecMask<double,2>(tmp3 > tmp5);
                            auto tmp7 = x1;
                            auto tmp8 = c10::convert<int64_t>(tmp7);
                            auto tmp9 = at::vec::VectorizedN<int64_t,2>::arange(tmp8, 1);
                            auto tmp10 = static_cast<int64_t>(0);
                            auto tmp11 = at::vec::VectorizedN<int64_t,2>(tmp10);
                            auto tmp12 = decltype(tmp9)::blendv(tmp11, tmp9, tmp6.template cast<int64_t,2>());
                            tmp3.store(in_out_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp12, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<int64_t, 2>([](at::vec::Vectorized<int64_t>& x, at::vec::Vectorized<int64_t>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr15[static_cast<int64_t>(x0)] = static_cast<int64_t>(tmp_acc0);
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused_mul_select_10 = async_compile.cpp_pybinding(['const double*', 'const double*', 'double*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const double* in_ptr0,
                       const double* in_ptr1,
                       double* out_ptr0,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                {
                    auto tmp0 = in_ptr0[static_cast<int64_t>(x0)];
                    auto tmp1 = in_ptr1[static_cast<int64_t>(59L + 60L*x0)];
                    auto tmp2 = double(tmp0 * tmp1);
                    out_ptr0[static_cast<int64_t>(x0)] = tmp2;
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


cpp_fused__log_softmax_abs_all_eq_gather_ge_mul_ne_select_squeeze_stack_sub_unsqueeze_where_11 = async_compile.cpp_pybinding(['int64_t*', 'float*', 'const int64_t*', 'const float*', 'const float*', 'const float*', 'const float*', 'const int64_t*', 'const float*', 'const float*', 'bool*', 'bool*', 'bool*', 'bool*', 'bool*', 'const int64_t'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(int64_t* in_out_ptr0,
                       float* in_out_ptr1,
                       const int64_t* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       const float* in_ptr3,
                       const float* in_ptr4,
                       const int64_t* in_ptr5,
                       const float* in_ptr6,
                       const float* in_ptr7,
                       bool* out_ptr0,
                       bool* out_ptr1,
                       bool* out_ptr2,
                       bool* out_ptr3,
                       bool* out_ptr4,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(8L))
        {
            {
                if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L))))))
                {
                    auto tmp0 = at::vec::VectorizedN<int64_t,2>::loadu(in_out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp4 = at::vec::VectorizedN<int64_t,2>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp10 = at::vec::Vectorized<float>::loadu(in_out_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp12 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp15 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp17 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp20 = at::vec::VectorizedN<int64_t,2>::loadu(in_ptr5 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    auto tmp1 = static_cast<int64_t>(60);
                    auto tmp2 = at::vec::VectorizedN<int64_t,2>(tmp1);
                    auto tmp3 = at::vec::VecMask<int64_t,2>(tmp0 >= tmp2);
                    auto tmp5 = decltype(tmp4)::blendv(tmp0, tmp4, tmp3.template cast<int64_t,2>());
                    auto tmp6 =
                    [&]
                    {
                        __at_align__ std::array<int64_t, 8> tmpbuf;
                        tmp5.store(tmpbuf.data(), static_cast<int64_t>(8));
                        return tmpbuf;
                    }
                    ()
                    ;
                    auto tmp7 =
                    [&]
                    {
                        __at_align__ std::array<int64_t, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(8); x0_inner++)
                        {
                            tmpbuf[x0_inner] = static_cast<int64_t>(tmp6[x0_inner]);
                        }
                        return at::vec::VectorizedN<int64_t,2>::loadu(tmpbuf.data(), static_cast<int64_t>(8));
                    }
                    ()
                    ;
                    TORCH_CHECK((at::vec::VecMask<int64_t,2>((at::vec::VectorizedN<int64_t,2>(0) <= tmp7) & (tmp7 < at::vec::VectorizedN<int64_t,2>(60L)))).all_masked(), "index out of bounds: 0 <= tmp7 < 60L");
                    auto tmp9 =
                    [&]
                    {
                        __at_align__ std::array<float, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(8); x0_inner++)
                        {
                            tmpbuf[x0_inner] = in_ptr1[static_cast<int64_t>(tmp6[x0_inner] + 60L*x0 + 60L*x0_inner)];
                        }
                        return at::vec::Vectorized<float>::loadu(tmpbuf.data(), static_cast<int64_t>(8));
                    }
                    ()
                    ;
                    auto tmp11 = tmp9 - tmp10;
                    auto tmp13 = tmp11 - tmp12;
                    auto tmp14 =
                    [&]
                    {
                        __at_align__ std::array<float, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(8); x0_inner++)
                        {
                            tmpbuf[x0_inner] = in_ptr1[static_cast<int64_t>(tmp6[x0_inner] + 60L*ks0 + 60L*x0 + 60L*x0_inner)];
                        }
                        return at::vec::Vectorized<float>::loadu(tmpbuf.data(), static_cast<int64_t>(8));
                    }
                    ()
                    ;
                    auto tmp16 = tmp14 - tmp15;
                    auto tmp18 = tmp16 - tmp17;
                    auto tmp19 = tmp13 - tmp18;
                    auto tmp21 = at::vec::VecMask<int64_t,2>(tmp5 != tmp20);
                    tmp5.store(in_out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                    tmp19.store(in_out_ptr1 + static_cast<int64_t>(x0));
                    tmp21.store(out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                }
                if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))) && x0 < static_cast<int64_t>(ks0)))
                {
                    auto tmp0 = at::vec::VectorizedN<int64_t,2>::loadu(in_out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp4 = at::vec::VectorizedN<int64_t,2>::loadu(in_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp10 = at::vec::Vectorized<float>::loadu(in_out_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp12 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp15 = at::vec::Vectorized<float>::loadu(in_ptr3 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp17 = at::vec::Vectorized<float>::loadu(in_ptr4 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp20 = at::vec::VectorizedN<int64_t,2>::loadu(in_ptr5 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    auto tmp1 = static_cast<int64_t>(60);
                    auto tmp2 = at::vec::VectorizedN<int64_t,2>(tmp1);
                    auto tmp3 = at::vec::VecMask<int64_t,2>(tmp0 >= tmp2);
                    auto tmp5 = decltype(tmp4)::blendv(tmp0, tmp4, tmp3.template cast<int64_t,2>());
                    auto tmp6 =
                    [&]
                    {
                        __at_align__ std::array<int64_t, 8> tmpbuf;
                        tmp5.store(tmpbuf.data(), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                        return tmpbuf;
                    }
                    ()
                    ;
                    auto tmp7 =
                    [&]
                    {
                        __at_align__ std::array<int64_t, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))); x0_inner++)
                        {
                            tmpbuf[x0_inner] = static_cast<int64_t>(tmp6[x0_inner]);
                        }
                        return at::vec::VectorizedN<int64_t,2>::loadu(tmpbuf.data(), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    }
                    ()
                    ;
                    TORCH_CHECK((at::vec::VecMask<int64_t,2>::set(at::vec::VecMask<int64_t,2>::from(1), (at::vec::VecMask<int64_t,2>((at::vec::VectorizedN<int64_t,2>(0) <= tmp7) & (tmp7 < at::vec::VectorizedN<int64_t,2>(60L)))), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))))).all_masked(), "index out of bounds: 0 <= tmp7 < 60L");
                    auto tmp9 =
                    [&]
                    {
                        __at_align__ std::array<float, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))); x0_inner++)
                        {
                            tmpbuf[x0_inner] = in_ptr1[static_cast<int64_t>(tmp6[x0_inner] + 60L*x0 + 60L*x0_inner)];
                        }
                        return at::vec::Vectorized<float>::loadu(tmpbuf.data(), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    }
                    ()
                    ;
                    auto tmp11 = tmp9 - tmp10;
                    auto tmp13 = tmp11 - tmp12;
                    auto tmp14 =
                    [&]
                    {
                        __at_align__ std::array<float, 8> tmpbuf;
                        #pragma GCC unroll 8
                        for (long x0_inner = 0; x0_inner < static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))); x0_inner++)
                        {
                            tmpbuf[x0_inner] = in_ptr1[static_cast<int64_t>(tmp6[x0_inner] + 60L*ks0 + 60L*x0 + 60L*x0_inner)];
                        }
                        return at::vec::Vectorized<float>::loadu(tmpbuf.data(), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    }
                    ()
                    ;
                    auto tmp16 = tmp14 - tmp15;
                    auto tmp18 = tmp16 - tmp17;
                    auto tmp19 = tmp13 - tmp18;
                    auto tmp21 = at::vec::VecMask<int64_t,2>(tmp5 != tmp20);
                    tmp5.store(in_out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    tmp19.store(in_out_ptr1 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    tmp21.store(out_ptr0 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                }
            }
        }
    }
    {
        {
            bool tmp_acc0 = 0;
            at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
            for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L))))))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr6 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::VecMask<float,1>(tmp0 == tmp0);
                        auto tmp2 = tmp0.abs();
                        auto tmp3 = std::numeric_limits<float>::infinity();
                        auto tmp4 = at::vec::Vectorized<float>(tmp3);
                        auto tmp5 = at::vec::VecMask<float,1>(tmp2 != tmp4);
                        auto tmp6 = tmp1.template cast<int32_t,1>();
                        auto tmp7 = tmp5.template cast<int32_t,1>();
                        auto tmp8 = tmp6 & tmp7;
                        auto tmp9 = ~tmp8;
                        auto tmp10 = tmp9.template cast<float,1>();
                        tmp_acc0_vec = tmp_acc0_vec | tmp10;
                    }
                    if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))) && x0 < static_cast<int64_t>(ks0)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr6 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                        auto tmp1 = at::vec::VecMask<float,1>(tmp0 == tmp0);
                        auto tmp2 = tmp0.abs();
                        auto tmp3 = std::numeric_limits<float>::infinity();
                        auto tmp4 = at::vec::Vectorized<float>(tmp3);
                        auto tmp5 = at::vec::VecMask<float,1>(tmp2 != tmp4);
                        auto tmp6 = tmp1.template cast<int32_t,1>();
                        auto tmp7 = tmp5.template cast<int32_t,1>();
                        auto tmp8 = tmp6 & tmp7;
                        auto tmp9 = ~tmp8;
                        auto tmp10 = tmp9.template cast<float,1>();
                        tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp10, static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    }
                }
            }
            tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
            out_ptr1[static_cast<int64_t>(0L)] = static_cast<bool>(tmp_acc0);
        }
    }
    {
        {
            bool tmp_acc0 = 0;
            at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
            for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x0 >= static_cast<int64_t>(0) && x0 < static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L))))))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr7 + static_cast<int64_t>(x0), static_cast<int64_t>(8));
                        auto tmp1 = at::vec::VecMask<float,1>(tmp0 == tmp0);
                        auto tmp2 = tmp0.abs();
                        auto tmp3 = std::numeric_limits<float>::infinity();
                        auto tmp4 = at::vec::Vectorized<float>(tmp3);
                        auto tmp5 = at::vec::VecMask<float,1>(tmp2 != tmp4);
                        auto tmp6 = tmp1.template cast<int32_t,1>();
                        auto tmp7 = tmp5.template cast<int32_t,1>();
                        auto tmp8 = tmp6 & tmp7;
                        auto tmp9 = ~tmp8;
                        auto tmp10 = tmp9.template cast<float,1>();
                        tmp_acc0_vec = tmp_acc0_vec | tmp10;
                    }
                    if(C10_UNLIKELY(x0 >= static_cast<int64_t>(8L*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))) && x0 < static_cast<int64_t>(ks0)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr7 + static_cast<int64_t>(x0), static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                        auto tmp1 = at::vec::VecMask<float,1>(tmp0 == tmp0);
                        auto tmp2 = tmp0.abs();
                        auto tmp3 = std::numeric_limits<float>::infinity();
                        auto tmp4 = at::vec::Vectorized<float>(tmp3);
                        auto tmp5 = at::vec::VecMask<float,1>(tmp2 != tmp4);
                        auto tmp6 = tmp1.template cast<int32_t,1>();
                        auto tmp7 = tmp5.template cast<int32_t,1>();
                        auto tmp8 = tmp6 & tmp7;
                        auto tmp9 = ~tmp8;
                        auto tmp10 = tmp9.template cast<float,1>();
                        tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp10, static_cast<int64_t>(ks0 + (-8L)*(c10::div_floor_integer(static_cast<int64_t>(ks0), static_cast<int64_t>(8L)))));
                    }
                }
            }
            tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
            out_ptr2[static_cast<int64_t>(0L)] = static_cast<bool>(tmp_acc0);
        }
    }
    {
        {
            {
                auto tmp0 = out_ptr1[static_cast<int64_t>(0L)];
                auto tmp1 = !tmp0;
                out_ptr3[static_cast<int64_t>(0L)] = tmp1;
            }
        }
    }
    {
        {
            {
                auto tmp0 = out_ptr2[static_cast<int64_t>(0L)];
                auto tmp1 = !tmp0;
                out_ptr4[static_cast<int64_t>(0L)] = tmp1;
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}
''')


async_compile.wait(globals())
del async_compile

class Runner:
    def __init__(self, partitions):
        self.partitions = partitions

    def recursively_apply_fns(self, fns):
        new_callables = []
        for fn, c in zip(fns, self.partitions):
            new_callables.append(fn(c))
        self.partitions = new_callables

    def call(self, args):
        arg0_1, arg1_1, arg2_1, arg3_1, arg4_1, arg5_1, arg6_1, arg7_1, arg8_1, arg9_1, arg10_1, arg11_1, arg12_1, arg13_1, arg14_1, arg15_1, arg16_1, arg17_1, arg18_1, arg19_1, arg20_1, arg21_1, arg22_1, arg23_1, arg24_1, arg25_1, arg26_1, arg27_1, arg28_1, arg29_1, arg30_1, arg31_1, arg32_1, arg33_1, arg34_1, arg35_1, arg36_1, arg37_1, arg38_1, arg39_1, arg40_1, arg41_1, arg42_1, arg43_1, arg44_1, arg45_1, arg46_1 = args
        args.clear()
        s23 = arg1_1
        s80 = s23
        s99 = s23
        s82 = arg9_1
        s8 = arg10_1
        s63 = arg12_1
        s39 = arg13_1
        s22 = arg15_1
        s89 = arg16_1
        s29 = arg17_1
        s68 = arg29_1
        s42 = arg30_1
        s41 = arg32_1
        s30 = arg33_1
        s75 = arg45_1
        assert_size_stride(arg2_1, (s23, ), (1, ), 'input')
        assert_size_stride(arg0_1, (2, 60, 32), (1920, 32, 1), 'input')
        buf0 = empty_strided_cpu((2, s23, 1), (s23, 1, 2*s23), torch.float32)
        assert_size_stride(arg6_1, (2, 1, 32), (32, 32, 1), 'input')
        buf1 = empty_strided_cpu((s23, 32), (32, 1), torch.float32)
        buf4 = empty_strided_cpu((s23, 32), (32, 1), torch.float32)
        assert_size_stride(arg7_1, (96, 32), (32, 1), 'input')
        cpp_fused_add_index_mean_mul_packed_linear_pow_rsqrt_select_0(arg2_1, arg0_1, arg6_1, buf0, buf1, buf4, s23)
        del arg6_1
        # Topologically Sorted Source Nodes: [x, pow_1, mean, add, rsqrt, h_1, h_2, getitem_8, packed_linear], Original ATen: [aten.index, aten.pow, aten.mean, aten.add, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf2 = torch.ops.cdsynth.packed_linear.default(buf1, arg7_1)
        del arg7_1
        del buf1
        buf3 = buf2
        assert_size_stride(buf3, (s23, 96), (96, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf3 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf2
        assert_size_stride(arg8_1, (96, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [x, pow_1, mean, add, rsqrt, h_1, h_2, getitem_9, packed_linear_1], Original ATen: [aten.index, aten.pow, aten.mean, aten.add, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf5 = torch.ops.cdsynth.packed_linear.default(buf4, arg8_1)
        del arg8_1
        del buf4
        buf6 = buf5
        assert_size_stride(buf6, (s23, 96), (96, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf6 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf5
        buf9 = empty_strided_cpu((2*s23, 96), (96, 1), torch.float32)
        buf7 = reinterpret_tensor(buf9, (s23, 96), (96, 1), 0)  # alias
        buf8 = reinterpret_tensor(buf9, (s23, 96), (96, 1), 96*s23)  # alias
        buf12 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        buf10 = reinterpret_tensor(buf12, (2, s23, 2, 8), (32*s23, 32, 16, 1), 0)  # alias
        buf11 = reinterpret_tensor(buf12, (2, s23, 2, 8), (32*s23, 32, 16, 1), 8)  # alias
        buf15 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        buf13 = reinterpret_tensor(buf15, (2, s23, 2, 8), (32*s23, 32, 16, 1), 0)  # alias
        buf14 = reinterpret_tensor(buf15, (2, s23, 2, 8), (32*s23, 32, 16, 1), 8)  # alias
        assert_size_stride(arg4_1, (s23, ), (1, ), 'input')
        assert_size_stride(arg5_1, (8, ), (1, ), 'input')
        buf16 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        buf17 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        assert_size_stride(arg11_1, (2, s82, 2, s8, 16), (32*s8*s82, 32*s8, 16*s8, 16, 1), 'input')
        assert_size_stride(arg14_1, (2, s63, 2, s39, 16), (32*s39*s63, 32*s39, 16*s39, 16, 1), 'input')
        assert_size_stride(arg18_1, (s22, s89), (s29, 1), 'input')
        cpp_fused__to_copy_add_cat_cos_decode_attention__mul_neg_select_sin_slice_split_with_sizes_stack_unsqueeze_view_1(buf3, buf6, buf9, arg4_1, arg5_1, buf12, buf15, buf7, buf8, buf10, buf11, buf13, buf14, buf16, buf17, s23)
        del buf10
        del buf11
        del buf12
        del buf13
        del buf14
        del buf15
        del buf3
        del buf6
        del buf7
        del buf8
        # Topologically Sorted Source Nodes: [stack, split, view, getitem_2, getitem_3, float_1, freqs, emb, cos, mul_1, cos_1, cos_2, mul_5, sin, mul_2, sin_1, sin_2, mul_6, q_1, view_1, mul_7, mul_8, k_1, view_2, att], Original ATen: [aten.stack, aten.split_with_sizes, aten.view, aten.unsqueeze, aten._to_copy, aten.mul, aten.cat, aten.cos, aten.select, aten.sin, aten.add, cdsynth_cpu.decode_attention_]
        buf18 = torch.ops.cdsynth_cpu.decode_attention_.default(buf16, buf17, reinterpret_tensor(buf9, (2, s23, 2, 16), (96*s23, 96, 16, 1), 64), arg11_1, arg14_1, arg18_1)
        del arg11_1
        del arg14_1
        del buf9
        buf21 = buf18
        assert_size_stride(buf21, (2, s23, 2, 16), (32*s23, 32, 16, 1), 'torch.ops.cdsynth_cpu.decode_attention_.default')
        # buffer buf21 (op: torch.ops.cdsynth_cpu.decode_attention_.default) is assumed to be not aligned
        del buf18
        assert_size_stride(arg19_1, (32, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [flatten, getitem_25, packed_linear_2], Original ATen: [aten.view, aten.select, cdsynth.packed_linear]
        buf22 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf21, (s23, 32), (32, 1), 0), arg19_1)
        del arg19_1
        buf23 = buf22
        assert_size_stride(buf23, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf23 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf22
        assert_size_stride(arg20_1, (32, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [flatten, getitem_26, packed_linear_3], Original ATen: [aten.view, aten.select, cdsynth.packed_linear]
        buf24 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf21, (s23, 32), (32, 1), 32*s23), arg20_1)
        del arg20_1
        del buf21
        buf25 = buf24
        assert_size_stride(buf25, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf25 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf24
        buf28 = reinterpret_tensor(buf17, (2*s23, 32), (32, 1), 0); del buf17  # reuse
        buf26 = reinterpret_tensor(buf28, (s23, 32), (32, 1), 0)  # alias
        buf27 = reinterpret_tensor(buf28, (s23, 32), (32, 1), 32*s23)  # alias
        assert_size_stride(arg21_1, (2, 1, 32), (32, 32, 1), 'input')
        buf29 = buf0; del buf0  # reuse
        buf30 = reinterpret_tensor(buf16, (2, s23, 32), (32*s23, 32, 1), 0); del buf16  # reuse
        assert_size_stride(arg22_1, (128, 32), (32, 1), 'input')
        cpp_fused_add_index_mean_mul_pow_rsqrt_stack_2(buf23, buf25, arg2_1, arg0_1, buf28, arg21_1, buf26, buf27, buf29, buf30, s23)
        del arg21_1
        del buf23
        del buf25
        del buf26
        del buf27
        del buf29
        # Topologically Sorted Source Nodes: [getitem_27, packed_linear_4], Original ATen: [aten.select, cdsynth.packed_linear]
        buf31 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf30, (s23, 32), (32, 1), 0), arg22_1)
        del arg22_1
        buf32 = buf31
        assert_size_stride(buf32, (s23, 128), (128, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf32 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf31
        assert_size_stride(arg23_1, (128, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [getitem_28, packed_linear_5], Original ATen: [aten.select, cdsynth.packed_linear]
        buf33 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf30, (s23, 32), (32, 1), 32*s23), arg23_1)
        del arg23_1
        del buf30
        buf34 = buf33
        assert_size_stride(buf34, (s23, 128), (128, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf34 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf33
        buf37 = empty_strided_cpu((2*s23, 128), (128, 1), torch.float32)
        buf35 = reinterpret_tensor(buf37, (s23, 128), (128, 1), 0)  # alias
        buf36 = reinterpret_tensor(buf37, (s23, 128), (128, 1), 128*s23)  # alias
        buf38 = empty_strided_cpu((2, s23, 64), (64*s23, 64, 1), torch.float32)
        assert_size_stride(arg24_1, (32, 64), (64, 1), 'input')
        cpp_fused_mul_silu_split_stack_3(buf32, buf34, buf37, buf35, buf36, buf38, s23)
        del buf32
        del buf34
        del buf35
        del buf36
        del buf37
        # Topologically Sorted Source Nodes: [getitem_31, packed_linear_6], Original ATen: [aten.select, cdsynth.packed_linear]
        buf39 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf38, (s23, 64), (64, 1), 0), arg24_1)
        del arg24_1
        buf40 = buf39
        assert_size_stride(buf40, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf40 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf39
        assert_size_stride(arg25_1, (32, 64), (64, 1), 'input')
        # Topologically Sorted Source Nodes: [getitem_32, packed_linear_7], Original ATen: [aten.select, cdsynth.packed_linear]
        buf41 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf38, (s23, 64), (64, 1), 64*s23), arg25_1)
        del arg25_1
        del buf38
        buf42 = buf41
        assert_size_stride(buf42, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf42 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf41
        buf45 = empty_strided_cpu((2*s23, 32), (32, 1), torch.float32)
        buf43 = reinterpret_tensor(buf45, (s23, 32), (32, 1), 0)  # alias
        buf44 = reinterpret_tensor(buf45, (s23, 32), (32, 1), 32*s23)  # alias
        assert_size_stride(arg26_1, (2, 1, 32), (32, 32, 1), 'input')
        buf46 = empty_strided_cpu((2, s23, 1), (s23, 1, 2*s23), torch.float32)
        buf47 = empty_strided_cpu((2, s23, 32), (32*s23, 32, 1), torch.float32)
        assert_size_stride(arg27_1, (96, 32), (32, 1), 'input')
        cpp_fused_add_index_mean_mul_pow_rsqrt_stack_4(buf40, buf42, arg2_1, arg0_1, buf28, buf45, arg26_1, buf43, buf44, buf46, buf47, s23)
        del arg26_1
        del buf40
        del buf42
        del buf43
        del buf44
        del buf46
        # Topologically Sorted Source Nodes: [getitem_33, packed_linear_8], Original ATen: [aten.select, cdsynth.packed_linear]
        buf48 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf47, (s23, 32), (32, 1), 0), arg27_1)
        del arg27_1
        buf49 = buf48
        assert_size_stride(buf49, (s23, 96), (96, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf49 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf48
        assert_size_stride(arg28_1, (96, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [getitem_34, packed_linear_9], Original ATen: [aten.select, cdsynth.packed_linear]
        buf50 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf47, (s23, 32), (32, 1), 32*s23), arg28_1)
        del arg28_1
        buf51 = buf50
        assert_size_stride(buf51, (s23, 96), (96, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf51 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf50
        buf54 = empty_strided_cpu((2*s23, 96), (96, 1), torch.float32)
        buf52 = reinterpret_tensor(buf54, (s23, 96), (96, 1), 0)  # alias
        buf53 = reinterpret_tensor(buf54, (s23, 96), (96, 1), 96*s23)  # alias
        buf57 = reinterpret_tensor(buf47, (2, s23, 2, 16), (32*s23, 32, 16, 1), 0); del buf47  # reuse
        buf55 = reinterpret_tensor(buf57, (2, s23, 2, 8), (32*s23, 32, 16, 1), 0)  # alias
        buf56 = reinterpret_tensor(buf57, (2, s23, 2, 8), (32*s23, 32, 16, 1), 8)  # alias
        buf60 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        buf58 = reinterpret_tensor(buf60, (2, s23, 2, 8), (32*s23, 32, 16, 1), 0)  # alias
        buf59 = reinterpret_tensor(buf60, (2, s23, 2, 8), (32*s23, 32, 16, 1), 8)  # alias
        buf61 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        buf62 = empty_strided_cpu((2, s23, 2, 16), (32*s23, 32, 16, 1), torch.float32)
        assert_size_stride(arg31_1, (2, s68, 2, s42, 16), (32*s42*s68, 32*s42, 16*s42, 16, 1), 'input')
        assert_size_stride(arg34_1, (2, s41, 2, s30, 16), (32*s30*s41, 32*s30, 16*s30, 16, 1), 'input')
        cpp_fused__to_copy_add_cat_cos_decode_attention__mul_neg_select_sin_slice_split_with_sizes_stack_unsqueeze_view_1(buf49, buf51, buf54, arg4_1, arg5_1, buf57, buf60, buf52, buf53, buf55, buf56, buf58, buf59, buf61, buf62, s23)
        del arg4_1
        del arg5_1
        del buf49
        del buf51
        del buf52
        del buf53
        del buf55
        del buf56
        del buf57
        del buf58
        del buf59
        del buf60
        # Topologically Sorted Source Nodes: [getitem_2, getitem_3, float_1, freqs, emb, cos, mul_1, cos_1, cos_2, sin, mul_2, sin_1, sin_2, stack_4, split_1, view_3, mul_14, mul_15, q_3, view_4, mul_16, mul_17, k_3, view_5, att_1], Original ATen: [aten.unsqueeze, aten._to_copy, aten.mul, aten.cat, aten.cos, aten.select, aten.sin, aten.stack, aten.split_with_sizes, aten.view, aten.add, cdsynth_cpu.decode_attention_]
        buf63 = torch.ops.cdsynth_cpu.decode_attention_.default(buf61, buf62, reinterpret_tensor(buf54, (2, s23, 2, 16), (96*s23, 96, 16, 1), 64), arg31_1, arg34_1, arg18_1)
        del arg18_1
        del arg31_1
        del arg34_1
        del buf54
        buf66 = buf63
        assert_size_stride(buf66, (2, s23, 2, 16), (32*s23, 32, 16, 1), 'torch.ops.cdsynth_cpu.decode_attention_.default')
        # buffer buf66 (op: torch.ops.cdsynth_cpu.decode_attention_.default) is assumed to be not aligned
        del buf63
        assert_size_stride(arg35_1, (32, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [flatten_1, getitem_50, packed_linear_10], Original ATen: [aten.view, aten.select, cdsynth.packed_linear]
        buf67 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf66, (s23, 32), (32, 1), 0), arg35_1)
        del arg35_1
        buf68 = buf67
        assert_size_stride(buf68, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf68 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf67
        assert_size_stride(arg36_1, (32, 32), (32, 1), 'input')
        # Topologically Sorted Source Nodes: [flatten_1, getitem_51, packed_linear_11], Original ATen: [aten.view, aten.select, cdsynth.packed_linear]
        buf69 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf66, (s23, 32), (32, 1), 32*s23), arg36_1)
        del arg36_1
        del buf66
        buf70 = buf69
        assert_size_stride(buf70, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf70 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf69
        buf73 = reinterpret_tensor(buf62, (2*s23, 32), (32, 1), 0); del buf62  # reuse
        buf71 = reinterpret_tensor(buf73, (s23, 32), (32, 1), 0)  # alias
        buf72 = reinterpret_tensor(buf73, (s23, 32), (32, 1), 32*s23)  # alias
        buf74 = reinterpret_tensor(buf61, (2, s23, 32), (32*s23, 32, 1), 0); del buf61  # reuse
        buf75 = empty_strided_cpu((2, s23, 1), (s23, 1, 2*s23), torch.float32)
        assert_size_stride(arg37_1, (2, 1, 32), (32, 32, 1), 'input')
        buf76 = empty_strided_cpu((s23, 32), (32, 1), torch.float32)
        assert_size_stride(arg38_1, (128, 32), (32, 1), 'input')
        cpp_fused_add_index_mean_mul_packed_linear_pow_rsqrt_select_stack_5(buf68, buf70, arg2_1, arg0_1, buf28, buf45, buf73, arg37_1, buf71, buf72, buf74, buf75, buf76, s23)
        del arg0_1
        del arg2_1
        del buf28
        del buf45
        del buf68
        del buf70
        del buf71
        del buf72
        del buf73
        # Topologically Sorted Source Nodes: [pow_4, mean_3, add_10, rsqrt_3, h_10, h_11, getitem_52, packed_linear_12], Original ATen: [aten.pow, aten.mean, aten.add, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf77 = torch.ops.cdsynth.packed_linear.default(buf76, arg38_1)
        del arg38_1
        buf78 = buf77
        assert_size_stride(buf78, (s23, 128), (128, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf78 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf77
        buf79 = buf76; del buf76  # reuse
        assert_size_stride(arg39_1, (128, 32), (32, 1), 'input')
        cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_6(arg37_1, buf74, buf75, buf79, s23)
        del arg37_1
        del buf75
        # Topologically Sorted Source Nodes: [pow_4, mean_3, add_10, rsqrt_3, h_10, h_11, getitem_53, packed_linear_13], Original ATen: [aten.pow, aten.mean, aten.add, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf80 = torch.ops.cdsynth.packed_linear.default(buf79, arg39_1)
        del arg39_1
        del buf79
        buf81 = buf80
        assert_size_stride(buf81, (s23, 128), (128, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf81 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf80
        buf84 = empty_strided_cpu((2*s23, 128), (128, 1), torch.float32)
        buf82 = reinterpret_tensor(buf84, (s23, 128), (128, 1), 0)  # alias
        buf83 = reinterpret_tensor(buf84, (s23, 128), (128, 1), 128*s23)  # alias
        buf85 = empty_strided_cpu((2, s23, 64), (64*s23, 64, 1), torch.float32)
        assert_size_stride(arg40_1, (32, 64), (64, 1), 'input')
        cpp_fused_mul_silu_split_stack_3(buf78, buf81, buf84, buf82, buf83, buf85, s23)
        del buf78
        del buf81
        del buf82
        del buf83
        del buf84
        # Topologically Sorted Source Nodes: [getitem_56, packed_linear_14], Original ATen: [aten.select, cdsynth.packed_linear]
        buf86 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf85, (s23, 64), (64, 1), 0), arg40_1)
        del arg40_1
        buf87 = buf86
        assert_size_stride(buf87, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf87 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf86
        assert_size_stride(arg41_1, (32, 64), (64, 1), 'input')
        # Topologically Sorted Source Nodes: [getitem_57, packed_linear_15], Original ATen: [aten.select, cdsynth.packed_linear]
        buf88 = torch.ops.cdsynth.packed_linear.default(reinterpret_tensor(buf85, (s23, 64), (64, 1), 64*s23), arg41_1)
        del arg41_1
        del buf85
        buf89 = buf88
        assert_size_stride(buf89, (s23, 32), (32, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf89 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf88
        buf92 = empty_strided_cpu((2*s23, 32), (32, 1), torch.float32)
        buf90 = reinterpret_tensor(buf92, (s23, 32), (32, 1), 0)  # alias
        buf91 = reinterpret_tensor(buf92, (s23, 32), (32, 1), 32*s23)  # alias
        buf93 = empty_strided_cpu((2, s23, 1), (s23, 1, 2*s23), torch.float32)
        assert_size_stride(arg42_1, (2, 1, 32), (32, 32, 1), 'input')
        buf94 = empty_strided_cpu((s23, 32), (32, 1), torch.float32)
        assert_size_stride(arg43_1, (60, 32), (32, 1), 'input')
        cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_stack_7(buf87, buf89, buf74, buf92, arg42_1, buf90, buf91, buf93, buf94, s23)
        del buf87
        del buf89
        del buf90
        del buf91
        # Topologically Sorted Source Nodes: [stack_7, x_4, pow_5, mean_4, add_12, rsqrt_4, h_13, h_14, getitem_58, packed_linear_16], Original ATen: [aten.stack, aten.add, aten.pow, aten.mean, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf95 = torch.ops.cdsynth.packed_linear.default(buf94, arg43_1)
        del arg43_1
        buf96 = buf95
        assert_size_stride(buf96, (s23, 60), (60, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf96 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf95
        buf97 = buf94; del buf94  # reuse
        assert_size_stride(arg44_1, (60, 32), (32, 1), 'input')
        cpp_fused_add_mean_mul_packed_linear_pow_rsqrt_select_stack_8(arg42_1, buf74, buf92, buf93, buf97, s23)
        del arg42_1
        del buf74
        del buf92
        del buf93
        # Topologically Sorted Source Nodes: [stack_7, x_4, pow_5, mean_4, add_12, rsqrt_4, h_13, h_14, getitem_59, packed_linear_17], Original ATen: [aten.stack, aten.add, aten.pow, aten.mean, aten.rsqrt, aten.mul, aten.select, cdsynth.packed_linear]
        buf98 = torch.ops.cdsynth.packed_linear.default(buf97, arg44_1)
        del arg44_1
        del buf97
        buf99 = buf98
        assert_size_stride(buf99, (s23, 60), (60, 1), 'torch.ops.cdsynth.packed_linear.default')
        # buffer buf99 (op: torch.ops.cdsynth.packed_linear.default) is assumed to be not aligned
        del buf98
        buf102 = empty_strided_cpu((2*s23, 60), (60, 1), torch.float32)
        buf100 = reinterpret_tensor(buf102, (s23, 60), (60, 1), 0)  # alias
        buf101 = reinterpret_tensor(buf102, (s23, 60), (60, 1), 60*s23)  # alias
        buf103 = empty_strided_cpu((s23, 1), (1, s23), torch.float32)
        buf104 = empty_strided_cpu((s23, 1), (1, s23), torch.float32)
        buf105 = buf104; del buf104  # reuse
        buf108 = empty_strided_cpu((s23, 1), (1, s23), torch.float32)
        buf109 = empty_strided_cpu((s23, 1), (1, s23), torch.float32)
        buf126 = empty_strided_cpu((s23, ), (1, ), torch.float32)
        buf110 = buf109; del buf109  # reuse
        buf106 = empty_strided_cpu((s23, 1), (1, s23), torch.float32)
        buf124 = empty_strided_cpu((s23, ), (1, ), torch.float32)
        buf131 = empty_strided_cpu((s23, ), (1, ), torch.int64)
        buf133 = empty_strided_cpu((s23, ), (1, ), torch.int64)
        buf111 = empty_strided_cpu((s23, 60), (60, 1), torch.float32)
        buf112 = empty_strided_cpu((s23, 1), (1, s23), torch.float64)
        buf113 = empty_strided_cpu((s23, 60), (60, 1), torch.float64)
        buf114 = empty_strided_cpu((s23, 1), (1, s23), torch.float64)
        buf115 = buf113; del buf113  # reuse
        buf121 = empty_strided_cpu((s23, ), (1, ), torch.int64)
        cpp_fused__log_softmax__softmax__to_copy_add_amax_arange_argmax_bitwise_not_ge_gt_masked_fill_max_mul_scalar_tensor_select_stack_sub_sum_where_9(buf105, buf110, buf115, buf96, buf99, buf102, buf100, buf101, buf103, buf108, buf126, buf106, buf124, buf131, buf133, buf111, buf112, buf114, buf121, s23)
        del buf100
        del buf101
        del buf106
        del buf112
        del buf96
        del buf99
        # Topologically Sorted Source Nodes: [probs, cdf], Original ATen: [aten._softmax, aten.cumsum]
        buf116 = torch.ops.aten.cumsum.default(buf115, dim=-1, dtype=None)
        del buf115
        buf117 = buf116
        assert_size_stride(buf117, (s23, 60), (60, 1), 'torch.ops.aten.cumsum.default')
        assert_alignment(buf117, 16, 'torch.ops.aten.cumsum.default')
        del buf116
        assert_size_stride(arg46_1, (s23, ), (1, ), 'input')
        buf118 = reinterpret_tensor(buf114, (s23, ), (1, ), 0); del buf114  # reuse
        cpp_fused_mul_select_10(arg46_1, buf117, buf118, s23)
        del arg46_1
        # Topologically Sorted Source Nodes: [getitem_64, mul_24, target, searchsorted], Original ATen: [aten.select, aten.mul, aten.unsqueeze, aten.searchsorted]
        buf119 = torch.ops.aten.searchsorted.Tensor(buf117, reinterpret_tensor(buf118, (s23, 1), (1, 0), 0), out_int32=False, right=True, side=None, sorter=None)
        del buf117
        del buf118
        buf120 = buf119
        assert_size_stride(buf120, (s23, 1), (1, 1), 'torch.ops.aten.searchsorted.Tensor')
        assert_alignment(buf120, 16, 'torch.ops.aten.searchsorted.Tensor')
        del buf119
        buf122 = reinterpret_tensor(buf120, (s23, ), (1, ), 0); del buf120  # reuse
        buf123 = reinterpret_tensor(buf103, (s23, 1), (1, 1), 0); del buf103  # reuse
        buf132 = empty_strided_cpu((s23, ), (1, ), torch.bool)
        buf125 = empty_strided_cpu((), (), torch.bool)
        buf127 = empty_strided_cpu((), (), torch.bool)
        buf130 = empty_strided_cpu((2, ), (1, ), torch.bool)
        buf128 = reinterpret_tensor(buf130, (1, ), (1, ), 0)  # alias
        buf129 = reinterpret_tensor(buf130, (1, ), (1, ), 1)  # alias
        cpp_fused__log_softmax_abs_all_eq_gather_ge_mul_ne_select_squeeze_stack_sub_unsqueeze_where_11(buf122, buf123, buf121, buf102, buf105, buf108, buf110, buf131, buf124, buf126, buf132, buf125, buf127, buf128, buf129, s23)
        return (buf122, reinterpret_tensor(buf123, (s23, ), (1, ), 0), buf132, buf133, buf130, buf111, )

runner = Runner(partitions=[])
call = runner.call
recursively_apply_fns = runner.recursively_apply_fns


def get_args():
    from torch._dynamo.testing import rand_strided
    arg0_1 = rand_strided((2, 60, 32), (1920, 32, 1), device='cpu', dtype=torch.float32)
    arg1_1 = 3
    arg2_1 = rand_strided((3, ), (1, ), device='cpu', dtype=torch.int64)
    arg3_1 = 3
    arg4_1 = rand_strided((3, ), (1, ), device='cpu', dtype=torch.int64)
    arg5_1 = rand_strided((8, ), (1, ), device='cpu', dtype=torch.float32)
    arg6_1 = rand_strided((2, 1, 32), (32, 32, 1), device='cpu', dtype=torch.float32)
    arg7_1 = rand_strided((96, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg8_1 = rand_strided((96, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg9_1 = 3
    arg10_1 = 31
    arg11_1 = rand_strided((2, 3, 2, 31, 16), (2976, 992, 496, 16, 1), device='cpu', dtype=torch.bfloat16)
    arg12_1 = 3
    arg13_1 = 31
    arg14_1 = rand_strided((2, 3, 2, 31, 16), (2976, 992, 496, 16, 1), device='cpu', dtype=torch.bfloat16)
    arg15_1 = 3
    arg16_1 = 8
    arg17_1 = 31
    arg18_1 = rand_strided((3, 8), (31, 1), device='cpu', dtype=torch.bool)
    arg19_1 = rand_strided((32, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg20_1 = rand_strided((32, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg21_1 = rand_strided((2, 1, 32), (32, 32, 1), device='cpu', dtype=torch.float32)
    arg22_1 = rand_strided((128, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg23_1 = rand_strided((128, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg24_1 = rand_strided((32, 64), (64, 1), device='cpu', dtype=torch.float32)
    arg25_1 = rand_strided((32, 64), (64, 1), device='cpu', dtype=torch.float32)
    arg26_1 = rand_strided((2, 1, 32), (32, 32, 1), device='cpu', dtype=torch.float32)
    arg27_1 = rand_strided((96, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg28_1 = rand_strided((96, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg29_1 = 3
    arg30_1 = 31
    arg31_1 = rand_strided((2, 3, 2, 31, 16), (2976, 992, 496, 16, 1), device='cpu', dtype=torch.bfloat16)
    arg32_1 = 3
    arg33_1 = 31
    arg34_1 = rand_strided((2, 3, 2, 31, 16), (2976, 992, 496, 16, 1), device='cpu', dtype=torch.bfloat16)
    arg35_1 = rand_strided((32, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg36_1 = rand_strided((32, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg37_1 = rand_strided((2, 1, 32), (32, 32, 1), device='cpu', dtype=torch.float32)
    arg38_1 = rand_strided((128, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg39_1 = rand_strided((128, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg40_1 = rand_strided((32, 64), (64, 1), device='cpu', dtype=torch.float32)
    arg41_1 = rand_strided((32, 64), (64, 1), device='cpu', dtype=torch.float32)
    arg42_1 = rand_strided((2, 1, 32), (32, 32, 1), device='cpu', dtype=torch.float32)
    arg43_1 = rand_strided((60, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg44_1 = rand_strided((60, 32), (32, 1), device='cpu', dtype=torch.float32)
    arg45_1 = 3
    arg46_1 = rand_strided((3, ), (1, ), device='cpu', dtype=torch.float64)
    return [arg0_1, arg1_1, arg2_1, arg3_1, arg4_1, arg5_1, arg6_1, arg7_1, arg8_1, arg9_1, arg10_1, arg11_1, arg12_1, arg13_1, arg14_1, arg15_1, arg16_1, arg17_1, arg18_1, arg19_1, arg20_1, arg21_1, arg22_1, arg23_1, arg24_1, arg25_1, arg26_1, arg27_1, arg28_1, arg29_1, arg30_1, arg31_1, arg32_1, arg33_1, arg34_1, arg35_1, arg36_1, arg37_1, arg38_1, arg39_1, arg40_1, arg41_1, arg42_1, arg43_1, arg44_1, arg45_1, arg46_1]


def benchmark_compiled_module(args, times=10, repeat=10):
    from torch._inductor.utils import print_performance
    fn = lambda: call(list(args))
    return print_performance(fn, times=times, repeat=repeat, device='cpu')


if __name__ == "__main__":
    from torch._inductor.wrapper_benchmark import compiled_module_main
    args = get_args()
    compiled_module_main('None', lambda times, repeat: benchmark_compiled_module(args, times=times, repeat=repeat))
