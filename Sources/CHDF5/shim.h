#ifndef TRAC_CHDF5_SHIM_H
#define TRAC_CHDF5_SHIM_H
#include <hdf5.h>

// HDF5's type and property constants are macros that call H5open(); Swift cannot
// import them, so they are wrapped here.
static inline hid_t trac_h5t_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t trac_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t trac_h5t_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t trac_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t trac_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t trac_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t trac_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t trac_h5s_all(void) { return H5S_ALL; }
static inline hid_t trac_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline unsigned trac_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned trac_h5f_acc_trunc(void) { return H5F_ACC_TRUNC; }

// Silences HDF5's default error printing: every failure is turned into a Swift error instead.
static inline void trac_h5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }
#endif
