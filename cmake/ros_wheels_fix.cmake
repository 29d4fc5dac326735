# Build fix for ROS 2 from PyPI wheels (a virtualenv without a system ROS 2): not needed, and a
# no-op, on a regular ROS 2 install.
#
# The wheels export CMake targets (<pkg>__rosidl_generator_py) whose INTERFACE_INCLUDE_DIRECTORIES
# name the Python and NumPy include folders of the machine that built them. CMake refuses such
# targets at generate time ("includes non-existent path"). This file, given to CMake as
#     -DCMAKE_PROJECT_INCLUDE=<repo>/cmake/ros_wheels_fix.cmake
# schedules a pass at the end of the top-level directory (after every find_package) that removes
# the missing folders from imported targets and adds this interpreter's Python and NumPy include
# folders instead. Requires CMake >= 3.19 (cmake_language(DEFER)).

cmake_minimum_required(VERSION 3.19)

# Python and NumPy include folders of the interpreter that builds the messages.
function(_unipose_python_include_dirs out_var)
  if(DEFINED Python3_EXECUTABLE)
    set(_python "${Python3_EXECUTABLE}")
  else()
    find_program(_python NAMES python3 python REQUIRED)
  endif()
  execute_process(
    COMMAND "${_python}" -c
      "import sysconfig, numpy; print(sysconfig.get_paths()['include'] + ';' + numpy.get_include())"
    OUTPUT_VARIABLE _dirs
    RESULT_VARIABLE _rc
    OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "ros_wheels_fix: '${_python}' cannot report its Python/NumPy include "
                        "folders; install numpy in that environment")
  endif()
  set(${out_var} "${_dirs}" PARENT_SCOPE)
endfunction()

# Rewrite the include folders of every imported target that names a folder missing here.
function(_unipose_fix_imported_include_dirs)
  get_directory_property(_imported DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  set(_count 0)
  set(_replacement "")
  foreach(_target IN LISTS _imported)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_kept "")
    set(_dropped FALSE)
    foreach(_dir IN LISTS _dirs)
      # Generator expressions are resolved later; keep them as they are.
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _kept "${_dir}")
      else()
        set(_dropped TRUE)
      endif()
    endforeach()
    if(_dropped)
      if(NOT _replacement)
        _unipose_python_include_dirs(_replacement)
      endif()
      list(APPEND _kept ${_replacement})
      list(REMOVE_DUPLICATES _kept)
      set_property(TARGET ${_target} PROPERTY INTERFACE_INCLUDE_DIRECTORIES "${_kept}")
      math(EXPR _count "${_count} + 1")
    endif()
  endforeach()
  if(_count GREATER 0)
    message(STATUS "ros_wheels_fix: ${_count} imported targets now use ${_replacement}")
  endif()
endfunction()

# CMAKE_PROJECT_INCLUDE runs after every project() call: schedule the pass once, for the
# top-level directory only.
get_property(_unipose_fix_scheduled GLOBAL PROPERTY UNIPOSE_ROS_WHEELS_FIX_SCHEDULED)
if(NOT _unipose_fix_scheduled AND CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  set_property(GLOBAL PROPERTY UNIPOSE_ROS_WHEELS_FIX_SCHEDULED TRUE)
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _unipose_fix_imported_include_dirs)
endif()
