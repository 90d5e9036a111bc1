import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MpiError } from '../../src/errors.js';
import { LIBRARY_ENV, MpiLibrary, libraryCandidates } from '../../src/mpi/library.js';

describe('libraryCandidates', () => {
  test('default order: OpenMPI soname, the dev symlink, then MPICH-ABI sonames', () => {
    const names = libraryCandidates({}, 'linux');
    assert.deepEqual(names.slice(0, 4), ['libmpi.so.40', 'libmpi.so', 'libmpich.so.12', 'libmpi.so.12']);
    assert.ok(names.includes('libmpi_cray.so.12'));
  });

  test("the launcher's family goes first", () => {
    assert.equal(libraryCandidates({ PMI_SIZE: '3', PMI_RANK: '0' }, 'linux')[0], 'libmpich.so.12');
    assert.equal(libraryCandidates({ OMPI_COMM_WORLD_SIZE: '3', PMI_SIZE: '3' }, 'linux')[0], 'libmpi.so.40');
  });

  test('every name is tried once', () => {
    for (const env of [{}, { PMI_SIZE: '2' }, { OMPI_COMM_WORLD_SIZE: '2' }]) {
      const names = libraryCandidates(env, 'linux');
      assert.equal(new Set(names).size, names.length);
    }
  });

  test('macOS names', () => {
    assert.equal(libraryCandidates({}, 'darwin')[0], 'libmpi.40.dylib');
  });
});

describe('MpiLibrary.load errors', () => {
  test('names every library tried and how to fix it', () => {
    const names = ['libtessera-no-such-mpi.so.40', 'libtessera-no-such-mpich.so.12'];
    assert.throws(
      () => MpiLibrary.load({}, names),
      (err: unknown) => {
        assert.ok(err instanceof MpiError);
        assert.equal(err.code, 'ERR_TESSERA_MPI');
        assert.match(err.message, /tried libtessera-no-such-mpi\.so\.40, libtessera-no-such-mpich\.so\.12/);
        assert.match(err.message, /Install OpenMPI or MPICH/);
        assert.match(err.message, new RegExp(`set ${LIBRARY_ENV}=`));
        return true;
      },
    );
  });

  test('a library that is not MPI is refused', () => {
    assert.throws(
      () => MpiLibrary.load({ [LIBRARY_ENV]: 'libc.so.6' }),
      (err: unknown) => err instanceof MpiError && /libc\.so\.6: loaded, but it exports no MPI_Init_thread/.test(err.message),
    );
  });
});
