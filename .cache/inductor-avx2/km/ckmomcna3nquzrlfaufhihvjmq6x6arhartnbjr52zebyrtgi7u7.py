# AOT ID: ['4_inference']
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


cpp_fused_abs_all_eq_mul_ne_stack_sum_0 = async_compile.cpp_pybinding(['const float*', 'const float*', 'bool*', 'bool*', 'bool*', 'bool*'], r'''
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       bool* out_ptr1,
                       bool* out_ptr3,
                       bool* out_ptr4,
                       bool* out_ptr5)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        {
            bool tmp_acc0 = 0;
            for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
            {
                {
                    {
                        auto tmp0 = in_ptr0[static_cast<int64_t>(5L*x0)];
                        auto tmp1 = in_ptr0[static_cast<int64_t>(1L + 5L*x0)];
                        auto tmp3 = in_ptr0[static_cast<int64_t>(2L + 5L*x0)];
                        auto tmp5 = in_ptr0[static_cast<int64_t>(3L + 5L*x0)];
                        auto tmp7 = in_ptr0[static_cast<int64_t>(4L + 5L*x0)];
                        auto tmp2 = float(tmp0 + tmp1);
                        auto tmp4 = float(tmp2 + tmp3);
                        auto tmp6 = float(tmp4 + tmp5);
                        auto tmp8 = float(tmp6 + tmp7);
                        auto tmp9 = tmp8 == tmp8;
                        auto tmp10 = std::abs(tmp8);
                        auto tmp11 = std::numeric_limits<float>::infinity();
                        auto tmp12 = tmp10 != tmp11;
                        auto tmp13 = tmp9 && tmp12;
                        auto tmp14 = !tmp13;
                        tmp_acc0 = tmp_acc0 || tmp14;
                    }
                }
            }
            out_ptr1[static_cast<int64_t>(0L)] = tmp_acc0;
        }
    }
    {
        {
            bool tmp_acc0 = 0;
            for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(2L); x0+=static_cast<int64_t>(1L))
            {
                {
                    {
                        auto tmp0 = in_ptr1[static_cast<int64_t>(5L*x0)];
                        auto tmp1 = in_ptr1[static_cast<int64_t>(1L + 5L*x0)];
                        auto tmp3 = in_ptr1[static_cast<int64_t>(2L + 5L*x0)];
                        auto tmp5 = in_ptr1[static_cast<int64_t>(3L + 5L*x0)];
                        auto tmp7 = in_ptr1[static_cast<int64_t>(4L + 5L*x0)];
                        auto tmp2 = float(tmp0 + tmp1);
                        auto tmp4 = float(tmp2 + tmp3);
                        auto tmp6 = float(tmp4 + tmp5);
                        auto tmp8 = float(tmp6 + tmp7);
                        auto tmp9 = tmp8 == tmp8;
                        auto tmp10 = std::abs(tmp8);
                        auto tmp11 = std::numeric_limits<float>::infinity();
                        auto tmp12 = tmp10 != tmp11;
                        auto tmp13 = tmp9 && tmp12;
                        auto tmp14 = !tmp13;
                        tmp_acc0 = tmp_acc0 || tmp14;
                    }
                }
            }
            out_ptr3[static_cast<int64_t>(0L)] = tmp_acc0;
        }
    }
    {
        {
            {
                auto tmp0 = out_ptr1[static_cast<int64_t>(0L)];
                auto tmp1 = !tmp0;
                out_ptr4[static_cast<int64_t>(0L)] = tmp1;
            }
        }
    }
    {
        {
            {
                auto tmp0 = out_ptr3[static_cast<int64_t>(0L)];
                auto tmp1 = !tmp0;
                out_ptr5[static_cast<int64_t>(0L)] = tmp1;
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
        arg0_1, arg1_1, arg2_1 = args
        args.clear()
        assert_size_stride(arg1_1, (2, 5), (5, 1), 'input')
        buf1 = empty_strided_cpu((), (), torch.bool)
        assert_size_stride(arg0_1, (2, 5), (5, 1), 'input')
        buf3 = empty_strided_cpu((), (), torch.bool)
        buf6 = empty_strided_cpu((2, ), (1, ), torch.bool)
        buf4 = reinterpret_tensor(buf6, (1, ), (1, ), 0)  # alias
        buf5 = reinterpret_tensor(buf6, (1, ), (1, ), 1)  # alias
        cpp_fused_abs_all_eq_mul_ne_stack_sum_0(arg1_1, arg0_1, buf1, buf3, buf4, buf5)
        del arg0_1
        del arg1_1
        return (buf6, )

runner = Runner(partitions=[])
call = runner.call
recursively_apply_fns = runner.recursively_apply_fns


def get_args():
    from torch._dynamo.testing import rand_strided
    arg0_1 = rand_strided((2, 5), (5, 1), device='cpu', dtype=torch.float32)
    arg1_1 = rand_strided((2, 5), (5, 1), device='cpu', dtype=torch.float32)
    arg2_1 = rand_strided((2, ), (1, ), device='cpu', dtype=torch.float64)
    return [arg0_1, arg1_1, arg2_1]


def benchmark_compiled_module(args, times=10, repeat=10):
    from torch._inductor.utils import print_performance
    fn = lambda: call(list(args))
    return print_performance(fn, times=times, repeat=repeat, device='cpu')


if __name__ == "__main__":
    from torch._inductor.wrapper_benchmark import compiled_module_main
    args = get_args()
    compiled_module_main('None', lambda times, repeat: benchmark_compiled_module(args, times=times, repeat=repeat))
