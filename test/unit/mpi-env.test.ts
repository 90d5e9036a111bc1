import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobIdFromEnvironment, jobIdInfoFromEnvironment, launcherWorldSize, rankFromEnvironment } from '../../src/mpi/env.js';
import { endStartSettings, nodeSafeSettings, preferQuickStart, quickStartSettings } from '../../src/mpi/runtime.js';

describe('rankFromEnvironment', () => {
  test('null outside any launcher', () => {
    assert.equal(rankFromEnvironment({ HOME: '/root' }), null);
  });

  test("OpenMPI's variables", () => {
    assert.deepEqual(rankFromEnvironment({ OMPI_COMM_WORLD_RANK: '3', OMPI_COMM_WORLD_SIZE: '8', PMIX_RANK: '3' }), {
      rank: 3,
      size: 8,
      source: 'OMPI_COMM_WORLD_RANK',
      sizeSource: 'OMPI_COMM_WORLD_SIZE',
    });
  });

  test('mpirun inside sbatch: OMPI rank wins over the SLURM_PROCID=0 every rank inherits', () => {
    const env = { SLURM_PROCID: '0', SLURM_NTASKS: '4', SLURM_JOB_ID: '77', OMPI_COMM_WORLD_RANK: '2', OMPI_COMM_WORLD_SIZE: '4' };
    assert.deepEqual(rankFromEnvironment(env), { rank: 2, size: 4, source: 'OMPI_COMM_WORLD_RANK', sizeSource: 'OMPI_COMM_WORLD_SIZE' });
  });

  test('srun --mpi=pmix: PMIX_RANK with the step size', () => {
    const env = { PMIX_RANK: '5', SLURM_PROCID: '5', SLURM_STEP_NUM_TASKS: '6', SLURM_NTASKS: '12' };
    assert.deepEqual(rankFromEnvironment(env), { rank: 5, size: 6, source: 'PMIX_RANK', sizeSource: 'SLURM_STEP_NUM_TASKS' });
  });

  test('PMIX_RANK wins over PMI_RANK', () => {
    assert.equal(rankFromEnvironment({ PMIX_RANK: '1', PMI_RANK: '0', PMI_SIZE: '2' })?.source, 'PMIX_RANK');
  });

  test('MPICH / Intel MPI hydra: PMI_RANK and PMI_SIZE', () => {
    const env = { PMI_RANK: '1', PMI_SIZE: '3', MPI_LOCALNRANKS: '2', SLURM_PROCID: '0' };
    assert.deepEqual(rankFromEnvironment(env), { rank: 1, size: 3, source: 'PMI_RANK', sizeSource: 'PMI_SIZE' });
  });

  test('plain srun: SLURM_PROCID last, sized by the step', () => {
    assert.deepEqual(rankFromEnvironment({ SLURM_PROCID: '2', SLURM_STEP_NUM_TASKS: '3', SLURM_NTASKS: '8' }), {
      rank: 2,
      size: 3,
      source: 'SLURM_PROCID',
      sizeSource: 'SLURM_STEP_NUM_TASKS',
    });
    assert.deepEqual(rankFromEnvironment({ SLURM_PROCID: '0', SLURM_NTASKS: '4' }), { rank: 0, size: 4, source: 'SLURM_PROCID', sizeSource: 'SLURM_NTASKS' });
  });

  test('a rank without a size', () => {
    assert.deepEqual(rankFromEnvironment({ PMIX_RANK: '0' }), { rank: 0, size: null, source: 'PMIX_RANK', sizeSource: null });
  });

  test('values that are not non-negative integers are ignored', () => {
    assert.equal(rankFromEnvironment({ OMPI_COMM_WORLD_RANK: 'x', PMI_RANK: '-1', SLURM_PROCID: '' }), null);
    assert.equal(rankFromEnvironment({ OMPI_COMM_WORLD_RANK: 'abc', PMI_RANK: '4', PMI_SIZE: '0' })?.size, null);
    assert.equal(rankFromEnvironment({ OMPI_COMM_WORLD_RANK: '1.5', PMI_RANK: ' 4 ' })?.rank, 4);
  });
});

describe('launcherWorldSize', () => {
  test('OpenMPI, then PMI', () => {
    assert.deepEqual(launcherWorldSize({ OMPI_COMM_WORLD_SIZE: '4', PMI_SIZE: '2' }), { size: 4, source: 'OMPI_COMM_WORLD_SIZE', launcher: 'openmpi' });
    assert.deepEqual(launcherWorldSize({ PMI_SIZE: '3' }), { size: 3, source: 'PMI_SIZE', launcher: 'pmi' });
  });

  test('srun steps count, with PMIx named when present', () => {
    assert.deepEqual(launcherWorldSize({ PMIX_RANK: '0', SLURM_STEP_NUM_TASKS: '8' }), { size: 8, source: 'SLURM_STEP_NUM_TASKS', launcher: 'pmix' });
    assert.deepEqual(launcherWorldSize({ SLURM_STEP_ID: '0', SLURM_NTASKS: '5' }), { size: 5, source: 'SLURM_NTASKS', launcher: 'slurm' });
  });

  test('a batch script alone (SLURM_NTASKS without a step) is not a launched job', () => {
    assert.equal(launcherWorldSize({ SLURM_NTASKS: '16', SLURM_PROCID: '0', SLURM_JOB_ID: '1' }), null);
  });

  test('nothing outside a launcher', () => {
    assert.equal(launcherWorldSize({}), null);
  });
});

describe('jobIdFromEnvironment', () => {
  test('the batch system first, then the launcher', () => {
    assert.equal(jobIdFromEnvironment({ SLURM_JOB_ID: '1234', OMPI_MCA_ess_base_jobid: '99', PMIX_NAMESPACE: 'ns' }), '1234');
    assert.deepEqual(jobIdInfoFromEnvironment({ OMPI_MCA_ess_base_jobid: '2015297537', PMIX_NAMESPACE: '2015297537' }), {
      id: '2015297537',
      source: 'OMPI_MCA_ess_base_jobid',
    });
    assert.deepEqual(jobIdInfoFromEnvironment({ PMIX_NAMESPACE: 'slurm.pmix.12.0' }), { id: 'slurm.pmix.12.0', source: 'PMIX_NAMESPACE' });
    assert.equal(jobIdFromEnvironment({ PBS_JOBID: '5.server' }), '5.server');
  });

  test('null outside a job; blank values are skipped', () => {
    assert.equal(jobIdFromEnvironment({}), null);
    assert.equal(jobIdFromEnvironment({ SLURM_JOB_ID: '  ', PMIX_NAMESPACE: 'x' }), 'x');
  });
});

describe('quickStartSettings', () => {
  test("under OpenMPI's launcher: ob1 and no PCI discovery", () => {
    assert.deepEqual(quickStartSettings({ OMPI_COMM_WORLD_SIZE: '4' }), { OMPI_MCA_pml: 'ob1', HWLOC_COMPONENTS: '-pci,-linuxio' });
  });

  test('other launchers: OMPI_MCA_pml means nothing to MPICH, so it is left out', () => {
    assert.deepEqual(quickStartSettings({ PMI_RANK: '0', PMI_SIZE: '4' }), { HWLOC_COMPONENTS: '-pci,-linuxio' });
  });

  test("the user's own choices win", () => {
    assert.deepEqual(quickStartSettings({ OMPI_COMM_WORLD_SIZE: '4', OMPI_MCA_pml: 'ucx', HWLOC_COMPONENTS: 'linux' }), {});
    // A topology read from a file: hwloc discovers nothing, so there is nothing to leave out.
    assert.deepEqual(quickStartSettings({ HWLOC_XMLFILE: '/etc/topo.xml' }), {});
  });
});

describe('nodeSafeSettings', () => {
  test("UCX's memory hooks are off unless the user configured them", () => {
    assert.deepEqual(nodeSafeSettings({}), { UCX_MEM_EVENTS: 'no' });
    assert.deepEqual(nodeSafeSettings({ UCX_MEM_EVENTS: 'yes' }), {});
  });
});

describe('preferQuickStart / endStartSettings', () => {
  test('puts the settings into the environment and takes out only those it added', () => {
    const env: NodeJS.ProcessEnv = { OMPI_COMM_WORLD_SIZE: '4', HWLOC_COMPONENTS: 'linux' };
    preferQuickStart(env);
    assert.deepEqual(env, { OMPI_COMM_WORLD_SIZE: '4', HWLOC_COMPONENTS: 'linux', OMPI_MCA_pml: 'ob1' });
    endStartSettings(env);
    assert.deepEqual(env, { OMPI_COMM_WORLD_SIZE: '4', HWLOC_COMPONENTS: 'linux' });
  });
});
