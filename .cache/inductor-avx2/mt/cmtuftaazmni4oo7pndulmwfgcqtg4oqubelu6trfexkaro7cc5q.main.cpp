
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
                       bool* out_ptr2)
{
    std::atomic<int> inductor_cpu_integer_div_error{0};
    inductor_cpu_integer_div_error_flag = &inductor_cpu_integer_div_error;
    {
        {
            {
                auto tmp0 = in_out_ptr0[static_cast<int64_t>(0L)];
                auto tmp3 = in_ptr0[static_cast<int64_t>(0L)];
                auto tmp9 = in_out_ptr1[static_cast<int64_t>(0L)];
                auto tmp11 = in_ptr2[static_cast<int64_t>(0L)];
                auto tmp14 = in_ptr3[static_cast<int64_t>(0L)];
                auto tmp16 = in_ptr4[static_cast<int64_t>(0L)];
                auto tmp19 = in_ptr5[static_cast<int64_t>(0L)];
                auto tmp1 = static_cast<int64_t>(60);
                auto tmp2 = tmp0 >= tmp1;
                auto tmp4 = tmp2 ? tmp3 : tmp0;
                auto tmp5 = tmp4;
                auto tmp6 = c10::convert<int64_t>(tmp5);
                TORCH_CHECK((0 <= tmp6) & (tmp6 < 60L), "index out of bounds: 0 <= tmp6 < 60L");
                auto tmp8 = in_ptr1[static_cast<int64_t>(tmp4)];
                auto tmp10 = float(tmp8 - tmp9);
                auto tmp12 = float(tmp10 - tmp11);
                auto tmp13 = in_ptr1[static_cast<int64_t>(60L + tmp4)];
                auto tmp15 = float(tmp13 - tmp14);
                auto tmp17 = float(tmp15 - tmp16);
                auto tmp18 = float(tmp12 - tmp17);
                auto tmp20 = tmp4 != tmp19;
                in_out_ptr0[static_cast<int64_t>(0L)] = tmp4;
                in_out_ptr1[static_cast<int64_t>(0L)] = tmp18;
                out_ptr0[static_cast<int64_t>(0L)] = tmp20;
            }
        }
    }
    {
        {
            {
                auto tmp0 = in_ptr6[static_cast<int64_t>(0L)];
                auto tmp1 = tmp0 == tmp0;
                auto tmp2 = std::abs(tmp0);
                auto tmp3 = std::numeric_limits<float>::infinity();
                auto tmp4 = tmp2 != tmp3;
                auto tmp5 = tmp1 && tmp4;
                auto tmp6 = !tmp5;
                auto tmp7 = !tmp6;
                out_ptr1[static_cast<int64_t>(0L)] = tmp7;
            }
        }
    }
    {
        {
            {
                auto tmp0 = in_ptr7[static_cast<int64_t>(0L)];
                auto tmp1 = tmp0 == tmp0;
                auto tmp2 = std::abs(tmp0);
                auto tmp3 = std::numeric_limits<float>::infinity();
                auto tmp4 = tmp2 != tmp3;
                auto tmp5 = tmp1 && tmp4;
                auto tmp6 = !tmp5;
                auto tmp7 = !tmp6;
                out_ptr2[static_cast<int64_t>(0L)] = tmp7;
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
        if(PyTuple_GET_SIZE(args) != 13) [[unlikely]]
            throw std::runtime_error("requires 13 args");
        kernel(parse_arg<int64_t*>(args, 0), parse_arg<float*>(args, 1), parse_arg<int64_t*>(args, 2), parse_arg<float*>(args, 3), parse_arg<float*>(args, 4), parse_arg<float*>(args, 5), parse_arg<float*>(args, 6), parse_arg<int64_t*>(args, 7), parse_arg<float*>(args, 8), parse_arg<float*>(args, 9), parse_arg<bool*>(args, 10), parse_arg<bool*>(args, 11), parse_arg<bool*>(args, 12)); Py_RETURN_NONE;
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
