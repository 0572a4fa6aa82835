# The benchmark harness's smoke run (ctest bench/smoke): a few seconds of
# fan-out against the presenced just built, checking only that presence-bench
# finishes and prints a well-formed result with every expected field and no
# lost final state. Numbers from a sanitizer build mean nothing and are not
# checked.
#   cmake -DBENCH=path/to/presence-bench -DSERVER=path/to/presenced -P smoke.cmake
execute_process(
  COMMAND ${BENCH} --scenario fanout --server-cmd "${SERVER} --rate 1000 --burst 1000 --user-rate 1000 --user-burst 1000"
          --rooms 2 --members 8 --rate 4 --warmup 0.5 --duration 1.5 --procs 2 --timeout 90
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 110)
message(STATUS "${err}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "presence-bench exited with ${rc}")
endif()

# Each check: a JSON path, then what its value must be (a number > 0 when
# the expectation is ">0"); string(JSON) fails the script on invalid JSON
# or a missing field.
function(expect value)
  list(POP_BACK ARGV want)
  list(POP_FRONT ARGV)
  string(JSON got GET "${out}" ${ARGV})
  if(want STREQUAL ">0")
    if(NOT got GREATER 0)
      message(FATAL_ERROR "${ARGV} is ${got}, want > 0\n${out}")
    endif()
  elseif(NOT got STREQUAL want)
    message(FATAL_ERROR "${ARGV} is ${got}, want ${want}\n${out}")
  endif()
endfunction()

expect(_ scenario fanout)
expect(_ server presenced)
expect(_ connections admitted 16)
expect(_ connections failed 0)
expect(_ lost_final_states 0)
expect(_ final_pairs_checked 112)
expect(_ updates_sent ">0")
expect(_ deliveries ">0")
expect(_ deliveries_per_s ">0")
foreach(field p50 p99 p999 max)
  string(JSON got GET "${out}" latency_ms ${field})
endforeach()
foreach(field delivery_ratio dropped_connections errors server_cpu_s generator_cpu_s
        deliveries_per_server_cpu_s generator_limited other_programs_cores)
  string(JSON got GET "${out}" ${field})
endforeach()
expect(_ server_process rss_end_kib ">0")
message(STATUS "bench smoke: well-formed result, no lost final state")
