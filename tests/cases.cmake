# Cases registered by hand: MPI runs (through ${MPIEXEC_EXECUTABLE}) and learning runs.
set(TRPO_BIN $<TARGET_FILE:trpo>)
set(TRPO_WORK ${CMAKE_BINARY_DIR}/testruns)
file(MAKE_DIRECTORY ${TRPO_WORK})

# rank-count invariance: 5 iterations, identical parameter checksums on 1, 2, 3, 4 ranks
add_test(NAME mpi_invariance_pendulum
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/invariance.sh ${TRPO_BIN} ${MPIEXEC_EXECUTABLE} ${TRPO_WORK} pendulum
                 ${CMAKE_SOURCE_DIR}/configs/pendulum.ini ${MPIEXEC_PREFLAGS} --
                 nenv=4 nsteps=128 total_steps=2560 vf_minibatch=64 vf_epochs=3)
add_test(NAME mpi_invariance_cartpole
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/invariance.sh ${TRPO_BIN} ${MPIEXEC_EXECUTABLE} ${TRPO_WORK} cartpole
                 ${CMAKE_SOURCE_DIR}/configs/cartpole.ini ${MPIEXEC_PREFLAGS} --
                 nenv=5 nsteps=100 total_steps=2500 vf_minibatch=50 vf_epochs=2 fvp_fraction=0.5)
# the path messages take between nodes
add_test(NAME mpi_invariance_tcp
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/invariance.sh ${TRPO_BIN} ${MPIEXEC_EXECUTABLE} ${TRPO_WORK} tcp
                 ${CMAKE_SOURCE_DIR}/configs/pendulum.ini ${MPIEXEC_PREFLAGS} --mca btl self,tcp --
                 nenv=4 nsteps=128 total_steps=2560 vf_minibatch=64 vf_epochs=3)
set_tests_properties(mpi_invariance_pendulum mpi_invariance_cartpole mpi_invariance_tcp
                     PROPERTIES LABELS mpi TIMEOUT 600 RUN_SERIAL TRUE)

if(TRPO_LEARNING_TESTS)
  foreach(seed 1 2 3)
    add_test(NAME learn_cartpole_seed${seed}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/learn.sh ${TRPO_BIN} ${CMAKE_SOURCE_DIR}/configs/cartpole.ini
                     ${seed} 100000 475 ${TRPO_WORK})
    add_test(NAME learn_pendulum_seed${seed}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/learn.sh ${TRPO_BIN} ${CMAKE_SOURCE_DIR}/configs/pendulum.ini
                     ${seed} 200000 -200 ${TRPO_WORK})
    set_tests_properties(learn_cartpole_seed${seed} learn_pendulum_seed${seed}
                         PROPERTIES LABELS learning TIMEOUT 1200)
  endforeach()
endif()

# ---- mj-learn: MuJoCo learning test (InvertedPendulum-v4) -----------------------------------------
# Seeds 1, 2, 3 fixed in advance: the mean return of the last >= 10 episodes reaches 950 (of 1000)
# within 100k env steps, one process each (about 10 s on one core).
if(TRPO_LEARNING_TESTS)
  foreach(seed 1 2 3)
    add_test(NAME learn_inverted_pendulum_seed${seed}
             COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/learn.sh ${TRPO_BIN}
                     ${CMAKE_SOURCE_DIR}/configs/inverted_pendulum.ini ${seed} 100000 950 ${TRPO_WORK})
    set_tests_properties(learn_inverted_pendulum_seed${seed} PROPERTIES LABELS learning TIMEOUT 1200)
  endforeach()
endif()
# ---- end mj-learn -----------------------------------------------------------------------------------
