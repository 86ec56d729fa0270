
#include <torch/csrc/inductor/cpp_prefix.h>
extern "C"  void  kernel(const float* in_ptr0,
                       const float* in_ptr1,
                       const float* in_ptr2,
                       float* out_ptr0,
                       float* out_ptr1,
                       bool* out_ptr2,
                       float* out_ptr3,
                       float* out_ptr4,
                       float* out_ptr5,
                       int64_t* out_ptr6,
                       bool* out_ptr7,
                       float* out_ptr8,
                       float* out_ptr9,
                       float* out_ptr10,
                       float* out_ptr11,
                       float* out_ptr12,
                       float* out_ptr13,
                       bool* out_ptr14,
                       float* out_ptr15,
                       float* out_ptr16,
                       float* out_ptr17,
                       float* out_ptr18,
                       float* out_ptr19,
                       bool* out_ptr20,
                       float* out_ptr21,
                       float* out_ptr22,
                       float* out_ptr23,
                       float* out_ptr24,
                       int64_t* out_ptr25,
                       float* out_ptr26,
                       const int64_t ks0)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
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
        std::unique_ptr<float []> buf_local_buffer_data_0 = std::make_unique<float []>(60L);
        float* local_buffer_data_0 = buf_local_buffer_data_0.get();
        std::unique_ptr<float []> buf_local_buffer_data_1 = std::make_unique<float []>(60L);
        float* local_buffer_data_1 = buf_local_buffer_data_1.get();
        std::unique_ptr<float []> buf_local_buffer_data_2 = std::make_unique<float []>(60L);
        float* local_buffer_data_2 = buf_local_buffer_data_2.get();
        #pragma GCC ivdep
        for(int64_t x0=static_cast<int64_t>(0L); x0<static_cast<int64_t>(ks0); x0+=static_cast<int64_t>(1L))
        {
            {
                bool tmp_acc0 = 0;
                at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
                float tmp_acc1 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc1_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc2 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc2_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc3 = 0;
                at::vec::Vectorized<float> tmp_acc3_vec = at::vec::Vectorized<float>(0);
                IndexValue<float> tmp_acc4 = IndexValue<float>{0, -std::numeric_limits<float>::infinity()};
                IndexValueVec<float, 1, 2> tmp_acc4_vec = IndexValueVec<float, 1, 2>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = tmp_acc0_vec | tmp13;
                            tmp_acc1_vec = at::vec::maximum(tmp_acc1_vec, tmp14);
                            tmp_acc2_vec = at::vec::maximum(tmp_acc2_vec, tmp3);
                            tmp_acc3_vec = tmp_acc3_vec + tmp0;
                            tmp_acc4_vec = argmax_combine_vec<float, 1, 2, true>(tmp_acc4_vec, tmp0, x1);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp13, static_cast<int64_t>(4L));
                            tmp_acc1_vec = max_masked_reduce(tmp_acc1_vec, tmp14, static_cast<int64_t>(4L));
                            tmp_acc2_vec = max_masked_reduce(tmp_acc2_vec, tmp3, static_cast<int64_t>(4L));
                            tmp_acc3_vec = sum_masked_reduce(tmp_acc3_vec, tmp0, static_cast<int64_t>(4L));
                            tmp_acc4_vec = argmax_combine_vec<float, 1, 2, true>(tmp_acc4_vec, tmp0, x1, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
                out_ptr2[static_cast<int64_t>(x0)] = static_cast<bool>(tmp_acc0);
                tmp_acc1 = max_propagate_nan(tmp_acc1, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc1_vec));
                out_ptr3[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc1);
                tmp_acc2 = max_propagate_nan(tmp_acc2, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc2_vec));
                out_ptr4[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc2);
                tmp_acc3 = tmp_acc3 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc3_vec);
                out_ptr5[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc3);
                tmp_acc4 = argmax_combine(tmp_acc4, argmax_vec_reduce_all(tmp_acc4_vec));
                out_ptr6[static_cast<int64_t>(x0)] = static_cast<int64_t>(tmp_acc4.index);
            }
            {
                bool tmp_acc0 = 0;
                at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
                float tmp_acc1 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc1_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc2 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc2_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc3 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc3_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = tmp_acc0_vec | tmp13;
                            tmp_acc1_vec = at::vec::maximum(tmp_acc1_vec, tmp14);
                            tmp_acc2_vec = at::vec::maximum(tmp_acc2_vec, tmp3);
                            tmp_acc3_vec = at::vec::maximum(tmp_acc3_vec, tmp0);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp13, static_cast<int64_t>(4L));
                            tmp_acc1_vec = max_masked_reduce(tmp_acc1_vec, tmp14, static_cast<int64_t>(4L));
                            tmp_acc2_vec = max_masked_reduce(tmp_acc2_vec, tmp3, static_cast<int64_t>(4L));
                            tmp_acc3_vec = max_masked_reduce(tmp_acc3_vec, tmp0, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
                out_ptr7[static_cast<int64_t>(x0)] = static_cast<bool>(tmp_acc0);
                tmp_acc1 = max_propagate_nan(tmp_acc1, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc1_vec));
                out_ptr8[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc1);
                tmp_acc2 = max_propagate_nan(tmp_acc2, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc2_vec));
                out_ptr9[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc2);
                tmp_acc3 = max_propagate_nan(tmp_acc3, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc3_vec));
                out_ptr10[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc3);
            }
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr10[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = tmp_acc0_vec + tmp4;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr10[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 - tmp2;
                            auto tmp4 = tmp3.exp();
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp4, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr11[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp6 = out_ptr3[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp17 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp19 = out_ptr8[static_cast<int64_t>(x0)];
                            auto tmp23 = out_ptr9[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            auto tmp18 = !tmp17;
                            auto tmp20 = at::vec::Vectorized<float>(tmp19);
                            auto tmp21 = tmp5 - tmp20;
                            auto tmp22 = tmp21 / tmp4;
                            auto tmp24 = at::vec::Vectorized<float>(tmp23);
                            auto tmp25 = tmp10 - tmp24;
                            auto tmp26 = at::vec::VecMask<float,1>::from(tmp18);
                            auto tmp27 = decltype(tmp22)::blendv(tmp25, tmp22, tmp26.template cast<float,1>());
                            auto tmp28 = tmp27.exp();
                            tmp16.store(local_buffer_data_0 + static_cast<int64_t>(x1));
                            tmp28.store(local_buffer_data_1 + static_cast<int64_t>(x1));
                            tmp_acc0_vec = tmp_acc0_vec + tmp16;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = out_ptr2[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp6 = out_ptr3[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr4[static_cast<int64_t>(x0)];
                            auto tmp17 = out_ptr7[static_cast<int64_t>(x0)];
                            auto tmp19 = out_ptr8[static_cast<int64_t>(x0)];
                            auto tmp23 = out_ptr9[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            auto tmp18 = !tmp17;
                            auto tmp20 = at::vec::Vectorized<float>(tmp19);
                            auto tmp21 = tmp5 - tmp20;
                            auto tmp22 = tmp21 / tmp4;
                            auto tmp24 = at::vec::Vectorized<float>(tmp23);
                            auto tmp25 = tmp10 - tmp24;
                            auto tmp26 = at::vec::VecMask<float,1>::from(tmp18);
                            auto tmp27 = decltype(tmp22)::blendv(tmp25, tmp22, tmp26.template cast<float,1>());
                            auto tmp28 = tmp27.exp();
                            tmp16.store(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            tmp28.store(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp16, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr12[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            tmp_acc0_vec = tmp_acc0_vec + tmp0;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp0, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr13[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                bool tmp_acc0 = 0;
                at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
                float tmp_acc1 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc1_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc2 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc2_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = tmp_acc0_vec | tmp13;
                            tmp_acc1_vec = at::vec::maximum(tmp_acc1_vec, tmp14);
                            tmp_acc2_vec = at::vec::maximum(tmp_acc2_vec, tmp3);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp1 = static_cast<float>(1.0);
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp4 = at::vec::VecMask<float,1>(tmp3 == tmp3);
                            auto tmp5 = tmp3.abs();
                            auto tmp6 = std::numeric_limits<float>::infinity();
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp5 != tmp7);
                            auto tmp9 = tmp4.template cast<int32_t,1>();
                            auto tmp10 = tmp8.template cast<int32_t,1>();
                            auto tmp11 = tmp9 & tmp10;
                            auto tmp12 = ~tmp11;
                            auto tmp13 = tmp12.template cast<float,1>();
                            auto tmp14 = tmp0 * tmp2;
                            tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp13, static_cast<int64_t>(4L));
                            tmp_acc1_vec = max_masked_reduce(tmp_acc1_vec, tmp14, static_cast<int64_t>(4L));
                            tmp_acc2_vec = max_masked_reduce(tmp_acc2_vec, tmp3, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
                out_ptr14[static_cast<int64_t>(x0)] = static_cast<bool>(tmp_acc0);
                tmp_acc1 = max_propagate_nan(tmp_acc1, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc1_vec));
                out_ptr15[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc1);
                tmp_acc2 = max_propagate_nan(tmp_acc2, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc2_vec));
                out_ptr16[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc2);
            }
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = out_ptr14[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp6 = out_ptr15[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr16[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            tmp16.store(local_buffer_data_2 + static_cast<int64_t>(x1));
                            tmp_acc0_vec = tmp_acc0_vec + tmp16;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = out_ptr14[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(in_ptr2 + static_cast<int64_t>(x1 + 60L*ks0 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp6 = out_ptr15[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr16[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            tmp16.store(local_buffer_data_2 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp16, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr17[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                float tmp_acc0 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp3);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp3, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr18[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                bool tmp_acc0 = 0;
                at::vec::VecMask<float,1> tmp_acc0_vec = at::vec::VecMask<float,1>::from(0);
                float tmp_acc1 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc1_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                float tmp_acc2 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc2_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp4 = out_ptr18[static_cast<int64_t>(x0)];
                            auto tmp13 = at::vec::Vectorized<float>::loadu(local_buffer_data_2 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            auto tmp14 = out_ptr17[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp5 = static_cast<float>(0.1);
                            auto tmp6 = float(tmp4 * tmp5);
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp3 > tmp7);
                            auto tmp9 = static_cast<float>(1e-10);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = tmp3 + tmp10;
                            auto tmp12 = tmp11.log();
                            auto tmp15 = at::vec::Vectorized<float>(tmp14);
                            auto tmp16 = tmp13 / tmp15;
                            auto tmp17 = tmp16 + tmp10;
                            auto tmp18 = tmp17.log();
                            auto tmp19 = static_cast<float>(1.0);
                            auto tmp20 = at::vec::Vectorized<float>(tmp19);
                            auto tmp21 = tmp18 * tmp20;
                            auto tmp22 = tmp12 - tmp21;
                            auto tmp23 = static_cast<float>(-20.0);
                            auto tmp24 = at::vec::Vectorized<float>(tmp23);
                            auto tmp25 = decltype(tmp22)::blendv(tmp24, tmp22, tmp8.template cast<float,1>());
                            auto tmp26 = tmp25 / tmp20;
                            auto tmp27 = at::vec::VecMask<float,1>(tmp26 == tmp26);
                            auto tmp28 = tmp26.abs();
                            auto tmp29 = std::numeric_limits<float>::infinity();
                            auto tmp30 = at::vec::Vectorized<float>(tmp29);
                            auto tmp31 = at::vec::VecMask<float,1>(tmp28 != tmp30);
                            auto tmp32 = tmp27.template cast<int32_t,1>();
                            auto tmp33 = tmp31.template cast<int32_t,1>();
                            auto tmp34 = tmp32 & tmp33;
                            auto tmp35 = ~tmp34;
                            auto tmp36 = tmp35.template cast<float,1>();
                            auto tmp37 = tmp25 * tmp20;
                            tmp25.store(out_ptr19 + static_cast<int64_t>(x1 + 60L*x0));
                            tmp_acc0_vec = tmp_acc0_vec | tmp36;
                            tmp_acc1_vec = at::vec::maximum(tmp_acc1_vec, tmp37);
                            tmp_acc2_vec = at::vec::maximum(tmp_acc2_vec, tmp26);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr12[static_cast<int64_t>(x0)];
                            auto tmp4 = out_ptr18[static_cast<int64_t>(x0)];
                            auto tmp13 = at::vec::Vectorized<float>::loadu(local_buffer_data_2 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            auto tmp14 = out_ptr17[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp5 = static_cast<float>(0.1);
                            auto tmp6 = float(tmp4 * tmp5);
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp3 > tmp7);
                            auto tmp9 = static_cast<float>(1e-10);
                            auto tmp10 = at::vec::Vectorized<float>(tmp9);
                            auto tmp11 = tmp3 + tmp10;
                            auto tmp12 = tmp11.log();
                            auto tmp15 = at::vec::Vectorized<float>(tmp14);
                            auto tmp16 = tmp13 / tmp15;
                            auto tmp17 = tmp16 + tmp10;
                            auto tmp18 = tmp17.log();
                            auto tmp19 = static_cast<float>(1.0);
                            auto tmp20 = at::vec::Vectorized<float>(tmp19);
                            auto tmp21 = tmp18 * tmp20;
                            auto tmp22 = tmp12 - tmp21;
                            auto tmp23 = static_cast<float>(-20.0);
                            auto tmp24 = at::vec::Vectorized<float>(tmp23);
                            auto tmp25 = decltype(tmp22)::blendv(tmp24, tmp22, tmp8.template cast<float,1>());
                            auto tmp26 = tmp25 / tmp20;
                            auto tmp27 = at::vec::VecMask<float,1>(tmp26 == tmp26);
                            auto tmp28 = tmp26.abs();
                            auto tmp29 = std::numeric_limits<float>::infinity();
                            auto tmp30 = at::vec::Vectorized<float>(tmp29);
                            auto tmp31 = at::vec::VecMask<float,1>(tmp28 != tmp30);
                            auto tmp32 = tmp27.template cast<int32_t,1>();
                            auto tmp33 = tmp31.template cast<int32_t,1>();
                            auto tmp34 = tmp32 & tmp33;
                            auto tmp35 = ~tmp34;
                            auto tmp36 = tmp35.template cast<float,1>();
                            auto tmp37 = tmp25 * tmp20;
                            tmp25.store(out_ptr19 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            tmp_acc0_vec = any_masked_reduce(tmp_acc0_vec, tmp36, static_cast<int64_t>(4L));
                            tmp_acc1_vec = max_masked_reduce(tmp_acc1_vec, tmp37, static_cast<int64_t>(4L));
                            tmp_acc2_vec = max_masked_reduce(tmp_acc2_vec, tmp26, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 || !tmp_acc0_vec.all_zero();
                out_ptr20[static_cast<int64_t>(x0)] = static_cast<bool>(tmp_acc0);
                tmp_acc1 = max_propagate_nan(tmp_acc1, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc1_vec));
                out_ptr21[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc1);
                tmp_acc2 = max_propagate_nan(tmp_acc2, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc2_vec));
                out_ptr22[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc2);
            }
            {
                float tmp_acc0 = 0;
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = out_ptr20[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(out_ptr19 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(8));
                            auto tmp6 = out_ptr21[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr22[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            tmp16.store(local_buffer_data_0 + static_cast<int64_t>(x1));
                            tmp_acc0_vec = tmp_acc0_vec + tmp16;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = out_ptr20[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>::loadu(out_ptr19 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                            auto tmp6 = out_ptr21[static_cast<int64_t>(x0)];
                            auto tmp11 = out_ptr22[static_cast<int64_t>(x0)];
                            auto tmp1 = !tmp0;
                            auto tmp3 = static_cast<float>(1.0);
                            auto tmp4 = at::vec::Vectorized<float>(tmp3);
                            auto tmp5 = tmp2 * tmp4;
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = tmp5 - tmp7;
                            auto tmp9 = tmp8 / tmp4;
                            auto tmp10 = tmp2 / tmp4;
                            auto tmp12 = at::vec::Vectorized<float>(tmp11);
                            auto tmp13 = tmp10 - tmp12;
                            auto tmp14 = at::vec::VecMask<float,1>::from(tmp1);
                            auto tmp15 = decltype(tmp9)::blendv(tmp13, tmp9, tmp14.template cast<float,1>());
                            auto tmp16 = tmp15.exp();
                            tmp16.store(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp16, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr23[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                float tmp_acc0 = -std::numeric_limits<float>::infinity();
                at::vec::Vectorized<float> tmp_acc0_vec = at::vec::Vectorized<float>(-std::numeric_limits<float>::infinity());
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr13[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            tmp_acc0_vec = at::vec::maximum(tmp_acc0_vec, tmp3);
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr13[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            tmp_acc0_vec = max_masked_reduce(tmp_acc0_vec, tmp3, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = max_propagate_nan(tmp_acc0, at::vec::vec_reduce_all<float, 1>([](at::vec::Vectorized<float>& x, at::vec::Vectorized<float>& y) { return at::vec::maximum(x, y); }, tmp_acc0_vec));
                out_ptr24[static_cast<int64_t>(x0)] = static_cast<float>(tmp_acc0);
            }
            {
                int64_t tmp_acc0 = 0;
                at::vec::VectorizedN<int64_t,2> tmp_acc0_vec = at::vec::VectorizedN<int64_t,2>(0);
                for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
                {
                    {
                        if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                            auto tmp1 = out_ptr13[static_cast<int64_t>(x0)];
                            auto tmp4 = out_ptr24[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp5 = static_cast<float>(0.1);
                            auto tmp6 = float(tmp4 * tmp5);
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp3 > tmp7);
                            auto tmp9 = tmp8.to<int64_t,2>();
                            tmp_acc0_vec = tmp_acc0_vec + tmp9;
                        }
                        if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                        {
                            auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_1 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                            auto tmp1 = out_ptr13[static_cast<int64_t>(x0)];
                            auto tmp4 = out_ptr24[static_cast<int64_t>(x0)];
                            auto tmp2 = at::vec::Vectorized<float>(tmp1);
                            auto tmp3 = tmp0 / tmp2;
                            auto tmp5 = static_cast<float>(0.1);
                            auto tmp6 = float(tmp4 * tmp5);
                            auto tmp7 = at::vec::Vectorized<float>(tmp6);
                            auto tmp8 = at::vec::VecMask<float,1>(tmp3 > tmp7);
                            auto tmp9 = tmp8.to<int64_t,2>();
                            tmp_acc0_vec = sum_masked_reduce(tmp_acc0_vec, tmp9, static_cast<int64_t>(4L));
                        }
                    }
                }
                tmp_acc0 = tmp_acc0 + at::vec::vec_reduce_all<int64_t, 2>([](at::vec::Vectorized<int64_t>& x, at::vec::Vectorized<int64_t>& y) { return x + y; }, tmp_acc0_vec);
                out_ptr25[static_cast<int64_t>(x0)] = static_cast<int64_t>(tmp_acc0);
            }
            for(int64_t x1=static_cast<int64_t>(0L); x1<static_cast<int64_t>(60L); x1+=static_cast<int64_t>(8L))
            {
                {
                    if(C10_LIKELY(x1 >= static_cast<int64_t>(0) && x1 < static_cast<int64_t>(56L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(8));
                        auto tmp1 = out_ptr23[static_cast<int64_t>(x0)];
                        auto tmp2 = at::vec::Vectorized<float>(tmp1);
                        auto tmp3 = tmp0 / tmp2;
                        tmp3.store(out_ptr26 + static_cast<int64_t>(x1 + 60L*x0));
                    }
                    if(C10_UNLIKELY(x1 >= static_cast<int64_t>(56L) && x1 < static_cast<int64_t>(60L)))
                    {
                        auto tmp0 = at::vec::Vectorized<float>::loadu(local_buffer_data_0 + static_cast<int64_t>(x1), static_cast<int64_t>(4L));
                        auto tmp1 = out_ptr23[static_cast<int64_t>(x0)];
                        auto tmp2 = at::vec::Vectorized<float>(tmp1);
                        auto tmp3 = tmp0 / tmp2;
                        tmp3.store(out_ptr26 + static_cast<int64_t>(x1 + 60L*x0), static_cast<int64_t>(4L));
                    }
                }
            }
        }
    }
    inductor_cpu_integer_div_error_flag = nullptr;
    inductor_cpu_throw_if_integer_div_error(inductor_cpu_integer_div_error);
}

// Python bindings to call kernel():
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sstream>
#include <cstdlib>
#include <cerrno>

// This is defined in guards.cpp so we don't need to import PyTorch headers that are slooow.
// We manually link it below to workaround issues with fbcode build.
static void* (*_torchinductor_pyobject_tensor_data_ptr)(PyObject* obj);

template <typename T> static inline T parse_arg(PyObject* args, size_t n) {
    static_assert(std::is_pointer_v<T>, "arg type must be pointer or long");
    return static_cast<T>(_torchinductor_pyobject_tensor_data_ptr(PyTuple_GET_ITEM(args, n)));
}
template <> inline int64_t parse_arg<int64_t>(PyObject* args, size_t n) {
    auto result = PyLong_AsSsize_t(PyTuple_GET_ITEM(args, n));
    if(result == -1 && PyErr_Occurred()) [[unlikely]]
        throw std::runtime_error("expected int arg");
    return result;
}
template <> inline uintptr_t parse_arg<uintptr_t>(PyObject* args, size_t n) {
    auto result = PyLong_AsVoidPtr(PyTuple_GET_ITEM(args, n));
    if(result == reinterpret_cast<void*>(-1) && PyErr_Occurred()) [[unlikely]]
        throw std::runtime_error("expected int arg");
    return reinterpret_cast<uintptr_t>(result);
}
template <> inline float parse_arg<float>(PyObject* args, size_t n) {
    auto result = PyFloat_AsDouble(PyTuple_GET_ITEM(args, n));
    if(result == -1.0 && PyErr_Occurred()) [[unlikely]]
        throw std::runtime_error("expected float arg");
    return static_cast<float>(result);
}



static PyObject* kernel_py(PyObject* self, PyObject* args) {
    try {
        if(!PyTuple_CheckExact(args)) [[unlikely]]
            throw std::runtime_error("tuple args required");
        if(PyTuple_GET_SIZE(args) != 31) [[unlikely]]
            throw std::runtime_error("requires 31 args");
        kernel(parse_arg<float*>(args, 0), parse_arg<float*>(args, 1), parse_arg<float*>(args, 2), parse_arg<float*>(args, 3), parse_arg<float*>(args, 4), parse_arg<bool*>(args, 5), parse_arg<float*>(args, 6), parse_arg<float*>(args, 7), parse_arg<float*>(args, 8), parse_arg<int64_t*>(args, 9), parse_arg<bool*>(args, 10), parse_arg<float*>(args, 11), parse_arg<float*>(args, 12), parse_arg<float*>(args, 13), parse_arg<float*>(args, 14), parse_arg<float*>(args, 15), parse_arg<float*>(args, 16), parse_arg<bool*>(args, 17), parse_arg<float*>(args, 18), parse_arg<float*>(args, 19), parse_arg<float*>(args, 20), parse_arg<float*>(args, 21), parse_arg<float*>(args, 22), parse_arg<bool*>(args, 23), parse_arg<float*>(args, 24), parse_arg<float*>(args, 25), parse_arg<float*>(args, 26), parse_arg<float*>(args, 27), parse_arg<int64_t*>(args, 28), parse_arg<float*>(args, 29), parse_arg<int64_t>(args, 30)); Py_RETURN_NONE;
    } catch(std::exception const& e) {
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return nullptr;
    } catch(...) {
        PyErr_SetString(PyExc_RuntimeError, "unhandled error");
        return nullptr;
    }
}

static PyMethodDef py_methods[] = {
    {"kernel", kernel_py, METH_VARARGS, ""},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef py_module =
    {PyModuleDef_HEAD_INIT, "kernel", NULL, -1, py_methods};

PyMODINIT_FUNC PyInit_kernel(void) {
    const char* str_addr = std::getenv("_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR");
    if(!str_addr) {
        PyErr_SetString(PyExc_RuntimeError, "_TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR must be set");
        return nullptr;
    }

    char* endptr = nullptr;
    errno = 0;
    uintptr_t addr = std::strtoull(str_addr, &endptr, 10);
    if(errno != 0 || endptr == str_addr || addr == 0) {
        PyErr_SetString(PyExc_RuntimeError, "Failed to parse _TORCHINDUCTOR_PYOBJECT_TENSOR_DATA_PTR");
        return nullptr;
    }
    _torchinductor_pyobject_tensor_data_ptr =
        reinterpret_cast<decltype(_torchinductor_pyobject_tensor_data_ptr)>(addr);
    PyObject* module = PyModule_Create(&py_module);
    if (module == NULL) {
        return NULL;
    }
    #ifdef Py_GIL_DISABLED
        PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED);
    #endif
    return module;
}
