# The cluster harness's smoke run (ctest bench/cluster-smoke): bench/cluster.sh
# starts a redis-server and two nodes of the presenced just built, and runs a
# few seconds of churn across them; this checks only that the result is
# well-formed, that both nodes and Redis were measured, and that neither the
# observers nor /api/rooms on each node found a ghost. Numbers from a
# sanitizer build mean nothing and are not checked.
#   cmake -DSCRIPT=bench/cluster.sh -DBENCH=… -DSERVER=… -DREDIS=… -DOUT=dir -P cluster-smoke.cmake
file(REMOVE_RECURSE ${OUT})
execute_process(
  COMMAND ${CMAKE_COMMAND} -E env PRESENCED=${SERVER} PRESENCE_BENCH=${BENCH} REDIS_SERVER=${REDIS}
          ${SCRIPT} churn ${OUT} 40 -- --rooms 2 --members 8 --warmup 0.5 --duration 1.5
          --churn-hold 0.3 --churn-abrupt 0 --timeout 90
  OUTPUT_VARIABLE log ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 110)
message(STATUS "${err}")
if(NOT rc EQUAL 0 OR NOT EXISTS ${OUT}/churn-2n.json)
  message(FATAL_ERROR "bench/cluster.sh exited with ${rc}")
endif()
file(READ ${OUT}/churn-2n.json out)

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

expect(_ scenario churn)
expect(_ config nodes 2)
expect(_ connections admitted 16)
expect(_ connections failed 0)
expect(_ lost_final_states 0)
expect(_ deliveries ">0")
expect(_ churn opened ">0")
expect(_ churn failed 0)
expect(_ churn ghosts 0)
expect(_ churn missing_members 0)
expect(_ churn api_check clean ON)
expect(_ churn api_check errors 0)
string(JSON nodes LENGTH "${out}" server_node_cpu_util)
if(NOT nodes EQUAL 2)
  message(FATAL_ERROR "server_node_cpu_util has ${nodes} entries, want 2\n${out}")
endif()
expect(_ server_process nodes 2)
foreach(field redis_cpu_s redis_ns_per_delivery other_programs_cores)
  string(JSON got GET "${out}" ${field})
endforeach()
message(STATUS "bench cluster smoke: two nodes and Redis measured, no ghost on any node")
