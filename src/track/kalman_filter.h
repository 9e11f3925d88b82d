// A linear Kalman filter with filterpy's KalmanFilter semantics (the trackers DeepLabCut's
// multi-animal tracking uses): x = 0, P = Q = I, R = I, F = I, H = 0 at construction; predict
// x = F x, P = F P F' + Q; update with the explicit inverse of S (an LU solve) and the Joseph
// form of the covariance update. Not thread-safe; each tracker owns one.
#pragma once

#include <Eigen/Dense>

namespace posebatch::track {

class KalmanFilter {
 public:
  KalmanFilter(int dim_x, int dim_z);

  // filterpy.common.kinematic_kf(dim, order=1, order_by_dim=False): dim positions then dim
  // velocities, F = [[I, I], [0, I]] (dt = 1), H = [I | 0].
  static KalmanFilter ConstantVelocity(int dim);

  void Predict();
  void Update(const Eigen::VectorXd& z);                            // with H
  void Update(const Eigen::VectorXd& z, const Eigen::MatrixXd& h);  // with this H once

  Eigen::VectorXd x;
  Eigen::MatrixXd P, Q, R, F, H;
};

}  // namespace posebatch::track
